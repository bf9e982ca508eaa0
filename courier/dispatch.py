"""Dispatch: plans that route every Pending order over the on-shift couriers (VROOM), applying a plan in one
transaction, automatic nearest-courier assignment, and each courier's own route."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

from . import eta, events, lifecycle, routing, shifts, solver
from .auth import Caller
from .db import execute, query, transaction
from .errors import ApiError, bad_request, conflict, not_found
from .middleware import ApiJSONProvider

REASONS = {
    "no_coordinates": "The order has no pickup or delivery coordinates (place it with them, or set GEOCODER_URL)",
    "over_capacity": "No on-shift courier has room for it (weight or parcels) in this plan",
    "window_unreachable": "No on-shift courier can reach it within its delivery window and their shift",
    "no_courier_on_shift": "No courier is on shift (or none has a depot or position to start from)",
}
PICKED_UP = ("Picked Up", "In Transit", "Out for Delivery", "Failed Attempt")
ORDER_COLUMNS = (
    "o.order_id, o.status, o.assigned_to, o.weight_kg, o.pickup_latitude, o.pickup_longitude,"
    " o.delivery_latitude, o.delivery_longitude, o.window_start, o.window_end, o.updated_at"
)
SYSTEM = Caller(None, "system", "")
MAX_PLAN_ORDERS = 5000


def iso(value):
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _fields_error(name, problem, code="invalid_fields"):
    return bad_request(f"{name} {problem}", code, {name: problem})


def parse_time(name, raw):
    """An ISO 8601 date-time as naive UTC (a time without offset is UTC), or a 400 naming the field."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    except (AttributeError, ValueError, OverflowError):
        raise _fields_error(name, "must be an ISO 8601 date-time") from None


def order_fields(body, at):
    """The dispatch columns of a new order (coordinates, delivery window), checked; 400 names the field."""
    values = {}
    for place in ("pickup", "delivery"):
        lat, lng = body.get(f"{place}_latitude"), body.get(f"{place}_longitude")
        if (lat is None) != (lng is None):
            missing = f"{place}_longitude" if lng is None else f"{place}_latitude"
            raise _fields_error(missing, "required with the other coordinate", "missing_fields")
        values[f"{place}_latitude"], values[f"{place}_longitude"] = lat, lng
    start = parse_time("window_start", body["window_start"]) if body.get("window_start") else None
    end = parse_time("window_end", body["window_end"]) if body.get("window_end") else None
    if end is not None and end <= at:
        raise _fields_error("window_end", "must be in the future")
    if start is not None and end is not None and end <= start:
        raise _fields_error("window_end", "must be after window_start")
    values["window_start"], values["window_end"] = start, end
    return values


# ---------------------------------------------------------------------------------------------------------
# Reading orders and couriers, and the fingerprint that makes a plan stale
# ---------------------------------------------------------------------------------------------------------


def _in(ids):
    return ", ".join(["%s"] * len(ids))


def _pending_orders(order_ids):
    if order_ids is None:
        return query(
            f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.status = 'Pending' ORDER BY o.created_at, o.order_id"
            " LIMIT %s",
            (MAX_PLAN_ORDERS,),
        )
    if not order_ids:
        return []
    rows = query(f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.order_id IN ({_in(order_ids)})", order_ids)
    found = {row["order_id"]: row for row in rows}
    unknown = [i for i in order_ids if i not in found]
    if unknown:
        problem = "unknown order ids: " + ", ".join(map(str, unknown))
        raise ApiError(404, f"order_ids has {problem}", "order_not_found", {"order_ids": problem})
    not_pending = [i for i in order_ids if found[i]["status"] != "Pending"]
    if not_pending:
        problem = "only Pending orders are planned; not Pending: " + ", ".join(map(str, not_pending))
        raise ApiError(409, f"order_ids: {problem}", "order_not_pending", {"order_ids": problem})
    return [found[i] for i in order_ids]


def _couriers(courier_ids):
    where = "d.deleted_at IS NULL AND " + (
        f"d.delivery_person_id IN ({_in(courier_ids)})" if courier_ids else "d.on_shift_since IS NOT NULL"
    )
    rows = query(
        f"SELECT {shifts.COURIER_COLUMNS} FROM delivery_persons d WHERE {where} ORDER BY d.delivery_person_id",
        courier_ids or (),
    )
    if courier_ids:
        found = {row["delivery_person_id"] for row in rows}
        unknown = [i for i in courier_ids if i not in found]
        if unknown:
            problem = "unknown courier ids: " + ", ".join(map(str, unknown))
            raise ApiError(
                404, f"courier_ids has {problem}", "delivery_person_not_found", {"courier_ids": problem}
            )
        off = [row["delivery_person_id"] for row in rows if row["on_shift_since"] is None]
        if off:
            problem = "not on shift: " + ", ".join(map(str, off))
            raise ApiError(409, f"courier_ids: {problem}", "courier_not_on_shift", {"courier_ids": problem})
    return rows


def _active_orders(courier_ids):
    if not courier_ids:
        return []
    return query(
        f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.assigned_to IN ({_in(courier_ids)})"
        " AND o.closed_at IS NULL ORDER BY o.order_id",
        courier_ids,
    )


def fingerprint(order_ids, courier_ids, lock=False):
    """A hash of everything a plan read: its orders, its couriers and the couriers' active orders."""
    suffix = " FOR UPDATE" if lock else ""
    state = []
    if order_ids:
        state.append(
            query(
                f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.order_id IN ({_in(order_ids)})"
                f" ORDER BY o.order_id{suffix}",
                order_ids,
            )
        )
    if courier_ids:
        state.append(
            query(
                f"SELECT {shifts.COURIER_COLUMNS}, d.deleted_at FROM delivery_persons d"
                f" WHERE d.delivery_person_id IN ({_in(courier_ids)}) ORDER BY d.delivery_person_id{suffix}",
                courier_ids,
            )
        )
        state.append(
            query(
                f"SELECT o.order_id, o.status, o.assigned_to FROM orders o WHERE o.assigned_to IN ({_in(courier_ids)})"
                f" AND o.closed_at IS NULL ORDER BY o.order_id{suffix}",
                courier_ids,
            )
        )
    text = json.dumps(state, default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Building the problem
# ---------------------------------------------------------------------------------------------------------


def _has_coordinates(row, picked_up=False):
    if row["delivery_latitude"] is None:
        return False
    return picked_up or row["pickup_latitude"] is not None


def _seconds(at, value):
    return int((value - at).total_seconds())


def _window(row, at):
    if row["window_end"] is None and row["window_start"] is None:
        return None
    start = max(0, _seconds(at, row["window_start"])) if row["window_start"] else 0
    end = _seconds(at, row["window_end"]) if row["window_end"] else 10 * 86400
    return (start, end)


def _vehicle(problem, courier, at):
    """A courier as a vehicle, or None when they have nowhere to start or their shift is over."""
    start, source = shifts.start_point(courier, at)
    if start is None:
        return None, None
    shift_from, shift_to = shifts.shift_bounds(courier, at)
    window = (max(0, _seconds(at, shift_from)), _seconds(at, shift_to))
    if window[1] <= window[0]:
        return None, None
    start_index = problem.point(start)
    depot = shifts.depot_point(courier)
    end_index = problem.point(depot) if depot and depot != start else start_index
    capacity = (solver.grams(courier["capacity_kg"]), int(courier["capacity_parcels"]))
    vehicle = solver.Vehicle(courier["delivery_person_id"], start_index, end_index, window, capacity)
    info = {
        "start": {"latitude": start[0], "longitude": start[1], "source": source},
        "end": {"latitude": problem.points[end_index][0], "longitude": problem.points[end_index][1]},
        "shift_start": shift_from,
        "shift_end": shift_to,
        "name": courier["name"],
        "capacity_kg": float(courier["capacity_kg"]),
        "capacity_parcels": int(courier["capacity_parcels"]),
    }
    return vehicle, info


def _task(problem, row, at, courier_id=None):
    picked_up = row["status"] in PICKED_UP
    pickup = None if picked_up else problem.point((row["pickup_latitude"], row["pickup_longitude"]))
    delivery = problem.point((row["delivery_latitude"], row["delivery_longitude"]))
    amount = (solver.grams(row["weight_kg"]), 1)
    return solver.Task(row["order_id"], pickup, delivery, amount, _window(row, at), courier_id)


def build(orders, couriers, active, at):
    """(problem, vehicle infos by courier id, unassigned [(order_id, reason)], orders by id)."""
    problem = solver.Problem(at)
    infos, unassigned = {}, []
    for courier in couriers:
        vehicle, info = _vehicle(problem, courier, at)
        if vehicle is not None:
            problem.vehicles.append(vehicle)
            infos[vehicle.courier_id] = info
    for row in active:
        if row["assigned_to"] in infos and _has_coordinates(row, row["status"] in PICKED_UP):
            problem.tasks.append(_task(problem, row, at, row["assigned_to"]))
    max_grams = max((v.capacity[0] for v in problem.vehicles), default=0)
    max_parcels = max((v.capacity[1] for v in problem.vehicles), default=0)
    for row in orders:
        if not _has_coordinates(row):
            unassigned.append((row["order_id"], "no_coordinates"))
        elif not problem.vehicles:
            unassigned.append((row["order_id"], "no_courier_on_shift"))
        elif row["window_end"] is not None and row["window_end"] <= at:
            unassigned.append((row["order_id"], "window_unreachable"))
        elif solver.grams(row["weight_kg"]) > max_grams or max_parcels < 1:
            unassigned.append((row["order_id"], "over_capacity"))
        else:
            problem.tasks.append(_task(problem, row, at))
    return problem, infos, unassigned


def _reachable(problem, task, durations, service):
    """Whether some vehicle, carrying nothing else, could serve the task within its window and shift."""
    for vehicle in problem.vehicles:
        if task.courier_id is not None and task.courier_id != vehicle.courier_id:
            continue
        t, here = vehicle.shift[0], vehicle.start
        if task.pickup is not None:
            t += int(durations[here][task.pickup]) + service
            here = task.pickup
        t += int(durations[here][task.delivery])
        if task.window:
            t = max(t, task.window[0])
            if t > task.window[1]:
                continue
        if t + service + int(durations[task.delivery][vehicle.end]) <= vehicle.shift[1]:
            return True
    return False


def solve(problem, config):
    """Solve the problem; unassigned orders get the reason that explains them."""
    durations, distances, source = routing.matrix(problem.points, config)
    result = solver.solve(problem, config, durations, distances)
    result["routing"] = source
    service = int(config["DISPATCH_SERVICE_SECONDS"])
    by_order = {task.order_id: task for task in problem.tasks}
    reasons = []
    for order_id in result["unassigned"]:
        task = by_order[order_id]
        reachable = problem.vehicles and _reachable(problem, task, durations, service)
        reasons.append((order_id, "over_capacity" if reachable else "window_unreachable"))
    result["reasons"] = reasons
    return result


# ---------------------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------------------


def _unassigned_json(pairs):
    return [
        {"order_id": order_id, "reason": reason, "message": REASONS[reason]} for order_id, reason in pairs
    ]


def _stop_json(stop, problem, rows, at, new_ids):
    row = rows[stop["order_id"]]
    lat, lng = problem.points[stop["point"]]
    return {
        "order_id": stop["order_id"],
        "type": stop["type"],
        "latitude": lat,
        "longitude": lng,
        "eta": iso(at + timedelta(seconds=stop["eta_s"])),
        "window_start": iso(row["window_start"]),
        "window_end": iso(row["window_end"]),
        "weight_kg": float(row["weight_kg"]) if row["weight_kg"] is not None else None,
        "new": stop["order_id"] in new_ids,
    }


def _routes_json(result, problem, infos, rows, at, new_ids):
    routes = []
    for route in result["routes"]:
        info = infos[route["courier_id"]]
        end_eta = at + timedelta(seconds=route["end_s"]) if route["end_s"] is not None else None
        routes.append(
            {
                "courier_id": route["courier_id"],
                "name": info["name"],
                "capacity_kg": info["capacity_kg"],
                "capacity_parcels": info["capacity_parcels"],
                "distance_m": int(route["distance_m"]),
                "duration_s": int(route["duration_s"]),
                "start": {**info["start"], "at": iso(at)},
                "end": {**info["end"], "eta": iso(end_eta)},
                "shift_start": iso(info["shift_start"]),
                "shift_end": iso(info["shift_end"]),
                "stops": [_stop_json(stop, problem, rows, at, new_ids) for stop in route["stops"]],
            }
        )
    return routes


def create_plan(caller, body, config):
    """Plan the given (default: every Pending) orders over the given (default: on-shift) couriers.

    Nothing is assigned; the plan is stored with a fingerprint of what it read.
    """
    at = parse_time("start_at", body["start_at"]) if body.get("start_at") else shifts.now()
    at = at.replace(microsecond=0)
    order_ids = list(dict.fromkeys(body["order_ids"])) if body.get("order_ids") is not None else None
    courier_ids = list(dict.fromkeys(body["courier_ids"])) if body.get("courier_ids") else None
    orders = _pending_orders(order_ids)
    couriers = _couriers(courier_ids)
    if not couriers:
        unassigned = _unassigned_json([(row["order_id"], "no_courier_on_shift") for row in orders])
        raise ApiError(409, "No courier is on shift", "no_courier_on_shift", unassigned=unassigned)
    plan_order_ids = [row["order_id"] for row in orders]
    plan_courier_ids = [row["delivery_person_id"] for row in couriers]
    stamp = fingerprint(plan_order_ids, plan_courier_ids)
    active = _active_orders(plan_courier_ids)
    problem, infos, unassigned = build(orders, couriers, active, at)
    result = solve(problem, config)
    rows = {row["order_id"]: row for row in [*orders, *active]}
    routes = _routes_json(result, problem, infos, rows, at, set(plan_order_ids))
    plan = {
        "created_at": iso(shifts.now()),
        "start_at": iso(at),
        "solver_ms": result["solver_ms"],
        "routing": result["routing"],
        "totals": {
            "distance_m": sum(route["distance_m"] for route in routes),
            "duration_s": sum(route["duration_s"] for route in routes),
            "orders": len(plan_order_ids),
            "routed": len(plan_order_ids) - len(unassigned) - len(result["reasons"]),
        },
        "routes": routes,
        "unassigned": _unassigned_json(unassigned + result["reasons"]),
        "order_ids": plan_order_ids,
        "courier_ids": plan_courier_ids,
    }
    text = json.dumps(plan, default=ApiJSONProvider.default)
    plan_id, _ = execute(
        "INSERT INTO dispatch_plans (created_by, start_at, fingerprint, body) VALUES (%s, %s, %s, %s)",
        (caller.id, at, stamp, text),
    )
    return {"plan_id": plan_id, **plan, "applied_at": None}


def _plan_row(plan_id, lock=False):
    row = query(
        "SELECT plan_id, fingerprint, body, applied_at, applied_by FROM dispatch_plans WHERE plan_id = %s"
        + (" FOR UPDATE" if lock else ""),
        (plan_id,),
        one=True,
    )
    if row is None:
        raise not_found("Plan")
    return row


def get_plan(plan_id):
    row = _plan_row(plan_id)
    return {"plan_id": row["plan_id"], **json.loads(row["body"]), "applied_at": row["applied_at"]}


def save_route(courier_id, stops):
    """Replace the courier's stored stop order. Call inside a transaction."""
    execute("DELETE FROM route_stops WHERE delivery_person_id = %s", (courier_id,))
    for seq, stop in enumerate(stops, 1):
        execute(
            "INSERT INTO route_stops (delivery_person_id, seq, order_id, stop_type) VALUES (%s, %s, %s, %s)",
            (courier_id, seq, stop["order_id"], stop["type"]),
        )
    eta.route_changed(courier_id)


@transaction()
def apply_plan(plan_id, caller):
    """Assign every routed order of the plan, each with its event and notifications. Call in a transaction."""
    row = _plan_row(plan_id, lock=True)
    if row["applied_at"] is not None:
        raise conflict("This plan was already applied", "plan_already_applied", applied_at=row["applied_at"])
    plan = json.loads(row["body"])
    if fingerprint(plan["order_ids"], plan["courier_ids"], lock=True) != row["fingerprint"]:
        raise conflict(
            "Orders or couriers of this plan changed since it was made: plan again",
            "plan_stale",
            plan_id=plan_id,
        )
    assigned = []
    for route in plan["routes"]:
        for stop in route["stops"]:
            if stop["new"] and stop["type"] == "pickup":
                lifecycle.assign(stop["order_id"], route["courier_id"], False, caller)
                assigned.append({"order_id": stop["order_id"], "courier_id": route["courier_id"]})
        save_route(route["courier_id"], route["stops"])
    execute(
        "UPDATE dispatch_plans SET applied_at = UTC_TIMESTAMP(6), applied_by = %s WHERE plan_id = %s",
        (caller.id, plan_id),
    )
    return assigned


# ---------------------------------------------------------------------------------------------------------
# AUTO_DISPATCH=nearest
# ---------------------------------------------------------------------------------------------------------


def auto_assign(order_id, config):
    """Assign a new order to the nearest on-shift courier with room; return the courier id or None.

    Call inside the order's transaction (AUTO_DISPATCH=nearest)."""
    order = query(f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.order_id = %s", (order_id,), one=True)
    if order["pickup_latitude"] is None:
        return None
    at = shifts.now()
    couriers = query(
        f"SELECT {shifts.COURIER_COLUMNS},"
        " (SELECT COALESCE(SUM(o.weight_kg), 0) FROM orders o"
        "   WHERE o.assigned_to = d.delivery_person_id AND o.closed_at IS NULL) AS load_kg,"
        " (SELECT COUNT(*) FROM orders o"
        "   WHERE o.assigned_to = d.delivery_person_id AND o.closed_at IS NULL) AS load_parcels"
        " FROM delivery_persons d WHERE d.deleted_at IS NULL AND d.on_shift_since IS NOT NULL"
    )
    weight = float(order["weight_kg"] or 0)
    best = None
    for courier in couriers:
        if float(courier["load_kg"]) + weight > float(courier["capacity_kg"]):
            continue
        if courier["load_parcels"] + 1 > courier["capacity_parcels"]:
            continue
        start, _ = shifts.start_point(courier, at)
        if start is None:
            continue
        metres = routing.haversine_m(
            *start, float(order["pickup_latitude"]), float(order["pickup_longitude"])
        )
        if best is None or metres < best[0]:
            best = (metres, courier)
    if best is None:
        return None
    metres, courier = best
    lifecycle.set_status(order_id, "Assigned", assigned_to=courier["delivery_person_id"])
    note = f"Automatically assigned to {courier['name']} (nearest on-shift courier, {metres / 1000:.1f} km)"
    events.add_event(order_id, "assignment", "Assigned", SYSTEM, note=note)
    return courier["delivery_person_id"]


# ---------------------------------------------------------------------------------------------------------
# A courier's own route
# ---------------------------------------------------------------------------------------------------------


def _remaining(courier_id):
    """The courier's active orders and their remaining stops in stored order (unplanned ones last)."""
    active = _active_orders([courier_id])
    rows = {row["order_id"]: row for row in active}
    wanted = []
    for row in active:
        if row["status"] not in PICKED_UP:
            wanted.append((row["order_id"], "pickup"))
        wanted.append((row["order_id"], "delivery"))
    stored = query(
        "SELECT order_id, stop_type FROM route_stops WHERE delivery_person_id = %s ORDER BY seq",
        (courier_id,),
    )
    order = [
        (r["order_id"], r["stop_type"]) for r in stored if (r["order_id"], r["stop_type"]) in set(wanted)
    ]
    order += [stop for stop in wanted if stop not in order]
    return rows, order


def _stop_point(row, kind):
    if kind == "pickup":
        lat, lng = row["pickup_latitude"], row["pickup_longitude"]
    else:
        lat, lng = row["delivery_latitude"], row["delivery_longitude"]
    return None if lat is None else (float(lat), float(lng))


def courier_route(courier_id, config):
    """The courier's remaining stops in route order, with ETAs from where they are now."""
    courier = shifts.get_courier(courier_id)
    rows, order = _remaining(courier_id)
    return _walk(courier, rows, order, config)


def _walk(courier, rows, order, config):
    at = shifts.now().replace(microsecond=0)
    start, source = shifts.start_point(courier, at)
    points = [start] if start else []
    stops, unroutable = [], []
    for order_id, kind in order:
        point = _stop_point(rows[order_id], kind)
        if point is None:
            if not any(u["order_id"] == order_id for u in unroutable):
                unroutable.append({"order_id": order_id, "reason": "no_coordinates"})
            continue
        points.append(point)
        stops.append((order_id, kind, point))
    durations, distances, _ = routing.matrix(points, config) if start else (None, None, None)
    service = int(config["DISPATCH_SERVICE_SECONDS"])
    t, here, total_s, total_m, out = 0, 0, 0, 0, []
    for i, (order_id, kind, point) in enumerate(stops, 1):
        row = rows[order_id]
        eta = None
        if start:
            t += int(durations[here][i])
            total_s += int(durations[here][i])
            total_m += int(distances[here][i])
            if kind == "delivery" and row["window_start"] is not None:
                t = max(t, _seconds(at, row["window_start"]))
            eta = at + timedelta(seconds=t)
            t += service
            here = i
        out.append(
            {
                "order_id": order_id,
                "type": kind,
                "status": row["status"],
                "latitude": point[0],
                "longitude": point[1],
                "eta": iso(eta),
                "window_start": iso(row["window_start"]),
                "window_end": iso(row["window_end"]),
            }
        )
    return {
        "courier_id": courier["delivery_person_id"],
        "start": {"latitude": start[0], "longitude": start[1], "source": source, "at": iso(at)}
        if start
        else None,
        "distance_m": total_m,
        "duration_s": total_s,
        "stops": out,
        "unroutable": _unassigned_json([(u["order_id"], u["reason"]) for u in unroutable]),
    }


@transaction()
def optimize_route(courier_id, config):
    """Re-solve the courier's remaining stops from where they are now and store the new order.

    Call inside a transaction."""
    courier = shifts.get_courier(courier_id, lock=True)
    rows, order = _remaining(courier_id)
    at = shifts.now().replace(microsecond=0)
    routable = [r for r in rows.values() if _has_coordinates(r, r["status"] in PICKED_UP)]
    new_order = None
    if routable:
        problem = solver.Problem(at)
        vehicle, _ = _vehicle(problem, courier, at)
        if vehicle is not None:
            # Stops already on the courier's list must all stay: no shift end, no capacity limit here.
            vehicle.shift = (0, 10 * 86400)
            vehicle.capacity = (10**9, 10**4)
            problem.vehicles.append(vehicle)
            for row in routable:
                problem.tasks.append(_task(problem, row, at, courier_id))
            result = solver.solve(problem, config)
            routed = [(s["order_id"], s["type"]) for r in result["routes"] for s in r["stops"]]
            new_order = routed + [stop for stop in order if stop not in routed]
    if new_order is not None:
        order = new_order
        save_route(courier_id, [{"order_id": o, "type": k} for o, k in order])
    return _walk(courier, rows, order, config)
