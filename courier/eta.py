"""ETAs with a window, arrival detection, late risk and measured accuracy.

An assigned order that is not final has an ETA: from its courier's latest position through the courier's
remaining stops in route order (route_stops when dispatch planned one, otherwise the order of assignment),
with the dispatch travel-time model (courier.routing) and DISPATCH_SERVICE_SECONDS at every stop.

The window is expected + the 10th..90th percentile of (actual arrival - last ETA) over the last
ETA_HISTORY_SIZE delivered orders, once there are ETA_HISTORY_MIN of them; before that it is
expected - ETA_DEFAULT_EARLY_MINUTES .. expected + ETA_DEFAULT_LATE_MINUTES.

ETAs are stored in order_etas (never locking the order) and recomputed, for all of a courier's orders at once, after a
ping, a status change or an assignment. When `expected` moves by more than ETA_NOTIFY_MINUTES an `eta`
timeline event is added (live streams send it as `event: eta`). A ping within ARRIVAL_RADIUS_M of an Out for
Delivery order's delivery point adds one `arrived` event (webhook order.arrived). An order whose latest ETA
passes its window's end (or SLA_HOURS after placement without a window) gets late_risk (webhook
order.late_risk once per rise); it clears when the ETA recovers.

Accuracy: first_expected is the ETA given when the order went Out for Delivery, last_expected (with its window)
the last one before arrival; on Delivered, error_seconds = actual arrival (or delivery) - last_expected, and
in_window says whether it came inside the promised window.
"""

import logging
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy
from flask import current_app, g

from . import events, notifications, routing, webhooks
from .auth import Caller
from .db import execute, in_transaction, query, transaction
from .vocabulary import FINAL

log = logging.getLogger(__name__)

OUT_FOR_DELIVERY = "Out for Delivery"
SYSTEM = Caller(None, "system", "")  # automatic events (arrival, ETA moves)
PICKUP_STATUSES = ("Assigned",)  # the parcel is not with the courier yet: its pickup comes first

ORDER_COLUMNS = (
    "o.order_id, o.tracking_number, o.status, o.assigned_to, o.location, o.created_at, o.updated_at,"
    " o.pickup_latitude, o.pickup_longitude, o.delivery_latitude, o.delivery_longitude, o.window_start,"
    " o.window_end, o.late_risk, e.expected AS eta_expected, e.first_expected, e.arrived_at,"
    " e.arriving_soon_at, c.notify_arriving_soon"
)


def utcnow():
    """Now in naive UTC; tests set current_app.config["CLOCK"] to move time."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.now(UTC).replace(tzinfo=None)


def iso(value):
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def margins():
    """(early, late) timedeltas around `expected`: measured percentiles, or the documented default."""
    config = current_app.config
    rows = query(
        "SELECT error_seconds AS e FROM order_etas WHERE delivered_at IS NOT NULL AND error_seconds IS NOT NULL"
        " ORDER BY delivered_at DESC LIMIT %s",
        (int(config["ETA_HISTORY_SIZE"]),),
    )
    if len(rows) < max(1, int(config["ETA_HISTORY_MIN"])):
        return (
            timedelta(minutes=-float(config["ETA_DEFAULT_EARLY_MINUTES"])),
            timedelta(minutes=float(config["ETA_DEFAULT_LATE_MINUTES"])),
        )
    errors = numpy.array([row["e"] for row in rows], dtype=float)
    p10, p90 = numpy.percentile(errors, [10, 90])
    return timedelta(seconds=min(float(p10), 0.0)), timedelta(seconds=max(float(p90), 0.0))


def _has(row, prefix):
    return row[f"{prefix}_latitude"] is not None and row[f"{prefix}_longitude"] is not None


def _stops(courier_id, orders):
    """The courier's remaining stops [(order, kind)] in route order, then the rest in order of assignment."""
    by_id = {row["order_id"]: row for row in orders}
    planned = query(
        "SELECT order_id, stop_type FROM route_stops WHERE delivery_person_id = %s ORDER BY seq",
        (courier_id,),
    )
    stops, seen = [], set()

    def add(order, kind):
        key = (order["order_id"], kind)
        if key in seen:
            return
        if kind == "pickup" and (order["status"] not in PICKUP_STATUSES or not _has(order, "pickup")):
            return
        if kind == "delivery" and not _has(order, "delivery"):
            return
        seen.add(key)
        stops.append((order, kind))

    for row in planned:
        if row["order_id"] in by_id:
            order = by_id[row["order_id"]]
            if row["stop_type"] == "delivery":
                add(order, "pickup")  # a pickup the plan left out still comes before its delivery
            add(order, row["stop_type"])
    for order in orders:
        add(order, "pickup")
        add(order, "delivery")
    return stops


def _plan(courier, orders, now):
    """{order_id: (expected, stops_before)} for the orders that can be routed, and the reason for the rest."""
    config = current_app.config
    if courier["latitude"] is None or courier["longitude"] is None:
        return {}, "no_position"
    stops = _stops(courier["delivery_person_id"], orders)
    points = [(float(courier["latitude"]), float(courier["longitude"]))]
    points += [(float(o[f"{kind}_latitude"]), float(o[f"{kind}_longitude"])) for o, kind in stops]
    durations, _, _ = routing.matrix(points, config)
    service = int(config["DISPATCH_SERVICE_SECONDS"])
    result, cursor, here = {}, now, 0
    for index, (order, kind) in enumerate(stops, start=1):
        cursor += timedelta(seconds=int(durations[here][index]))
        if kind == "delivery":
            result[order["order_id"]] = (cursor, index - 1)
        cursor += timedelta(seconds=service)
        here = index
    return result, None


def _deadline(order):
    if order["window_end"] is not None:
        return order["window_end"]
    return order["created_at"] + timedelta(hours=float(current_app.config["SLA_HOURS"]))


def _moved(before, after):
    if before is None or after is None:
        return before is not after
    limit = float(current_app.config["ETA_NOTIFY_MINUTES"]) * 60
    return abs((after - before).total_seconds()) > limit


def _event(order, type_, note, lat=None, lng=None):
    return events.add_event(order["order_id"], type_, order["status"], SYSTEM, note=note, lat=lat, lng=lng)


def _late_risk_webhook(order):
    subscribers = webhooks.subscribers("order.late_risk")
    if not subscribers:
        return
    event_id = uuid.uuid4().hex
    payload = webhooks.order_payload("order.late_risk", event_id, order)
    payload["order"]["eta"] = {
        "expected": iso(order["eta_expected"]),
        "latest": iso(order["eta_latest"]),
        "deadline": iso(_deadline(order)),
    }
    for hook in subscribers:
        notifications.enqueue(
            "webhook",
            "order.late_risk",
            event_id,
            hook["url"],
            payload,
            webhook_id=hook["webhook_id"],
            order_id=order["order_id"],
        )


def _arrived(courier, order):
    if order["status"] != OUT_FOR_DELIVERY or order["arrived_at"] is not None or not _has(order, "delivery"):
        return False
    if courier["latitude"] is None or courier["longitude"] is None:
        return False
    metres = routing.haversine_m(
        float(courier["latitude"]),
        float(courier["longitude"]),
        float(order["delivery_latitude"]),
        float(order["delivery_longitude"]),
    )
    return metres <= float(current_app.config["ARRIVAL_RADIUS_M"])


def recompute(courier_id, now=None):
    """Recompute the ETAs of all the courier's open orders (own transaction); detect arrivals and late
    risk. Orders are read without locking them: only their order_etas rows are written (and
    orders.late_risk when it flips)."""
    if courier_id is None:
        return
    now = now or utcnow()
    with transaction():
        courier = query(
            "SELECT delivery_person_id, latitude, longitude, position_at FROM delivery_persons"
            " WHERE delivery_person_id = %s",
            (courier_id,),
            one=True,
        )
        if courier is None:
            return
        orders = query(
            f"SELECT {ORDER_COLUMNS} FROM orders o LEFT JOIN order_etas e ON e.order_id = o.order_id"
            " JOIN customers c ON c.customer_id = o.customer_id WHERE o.assigned_to = %s AND o.closed_at IS NULL ORDER BY o.order_id",
            (courier_id,),
        )
        if not orders:
            return
        early, late = margins()
        plan, reason = _plan(courier, orders, now)
        for order in orders:
            _update(courier, order, plan, reason, early, late, now)


def _update(courier, order, plan, reason, early, late, now):
    arrived = _arrived(courier, order)
    if arrived or order["arrived_at"] is not None:
        at = order["arrived_at"] or courier["position_at"] or now
        expected, earliest, latest, stops_before, why = at, at, at, 0, None
    elif order["order_id"] in plan:
        expected, stops_before = plan[order["order_id"]]
        earliest, latest, why = expected + early, expected + late, None
    else:
        expected = earliest = latest = stops_before = None
        why = "no_coordinates" if not _has(order, "delivery") else reason
    late_risk = latest is not None and latest > _deadline(order)
    first = order["first_expected"]
    if first is None and order["status"] == OUT_FOR_DELIVERY and expected is not None and not arrived:
        first = expected
    keep_last = arrived or order["arrived_at"] is not None or expected is None
    arrived_at = (courier["position_at"] or now) if arrived else order["arrived_at"]
    execute(
        "INSERT INTO order_etas (order_id, delivery_person_id, expected, earliest, latest, stops_before,"
        " updated_at, reason, first_expected, last_expected, last_earliest, last_latest, arrived_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE"
        " delivery_person_id = VALUES(delivery_person_id), expected = VALUES(expected),"
        " earliest = VALUES(earliest), latest = VALUES(latest), stops_before = VALUES(stops_before),"
        " updated_at = VALUES(updated_at), reason = VALUES(reason), first_expected = VALUES(first_expected),"
        " last_expected = IF(%s, last_expected, VALUES(last_expected)),"
        " last_earliest = IF(%s, last_earliest, VALUES(last_earliest)),"
        " last_latest = IF(%s, last_latest, VALUES(last_latest)), arrived_at = VALUES(arrived_at)",
        (
            order["order_id"],
            courier["delivery_person_id"],
            expected,
            earliest,
            latest,
            stops_before,
            now,
            why,
            first,
            None if keep_last else expected,
            None if keep_last else earliest,
            None if keep_last else latest,
            arrived_at,
            keep_last,
            keep_last,
            keep_last,
        ),
    )
    if _arriving_soon(order, arrived, stops_before):
        execute("UPDATE order_etas SET arriving_soon_at = %s WHERE order_id = %s", (now, order["order_id"]))
        _event(order, "arriving_soon", f"The courier is {stops_before + 1} stop(s) away")
    if arrived:
        _event(order, "arrived", "The courier has arrived", courier["latitude"], courier["longitude"])
    elif (
        expected is not None and order["eta_expected"] is not None and _moved(order["eta_expected"], expected)
    ):
        note = f"Expected at {iso(expected)}, between {iso(earliest)} and {iso(latest)}"
        _event(order, "eta", note)
    if late_risk != bool(order["late_risk"]):
        execute(
            "UPDATE orders SET late_risk = %s, updated_at = updated_at WHERE order_id = %s",
            (int(late_risk), order["order_id"]),
        )
        if late_risk:
            _late_risk_webhook({**order, "eta_expected": expected, "eta_latest": latest})


def _arriving_soon(order, arrived, stops_before):
    """Whether to tell an opted-in customer now: Out for Delivery, not arrived, not told yet, and the courier
    at most ARRIVING_SOON_STOPS stops away (their own stop counts: 1 means it is next)."""
    limit = int(current_app.config["ARRIVING_SOON_STOPS"])
    return (
        limit > 0
        and order["status"] == OUT_FOR_DELIVERY
        and bool(order["notify_arriving_soon"])
        and order["arriving_soon_at"] is None
        and not arrived
        and order["arrived_at"] is None
        and stops_before is not None
        and stops_before + 1 <= limit
    )


def recompute_quietly(courier_id, now=None):
    """recompute, after the change that caused it has committed: a failure is logged, never the caller's.
    Inside a caller's transaction (e.g. applying a dispatch plan) it waits for the end of the request."""
    if courier_id is None:
        return
    if in_transaction():
        g.setdefault("eta_couriers", set()).add(courier_id)
        return
    try:
        recompute(courier_id, now)
    except Exception:  # noqa: BLE001 (an ETA is a best effort; the next ping recomputes it)
        log.exception("ETA recompute failed for courier %s", courier_id)


def route_changed(courier_id):
    """A courier's stop order changed (plan applied, route re-optimised): their ETAs follow."""
    recompute_quietly(courier_id)


def _after_request(response):
    for courier_id in sorted(g.pop("eta_couriers", ())):
        recompute_quietly(courier_id)
    return response


def init_app(app):
    app.after_request(_after_request)


def on_status(order_id, status):
    """Inside a status change's transaction (the order is locked): settle the accuracy figures on
    Delivered, and clear the ETA and the late-risk flag on any final status."""
    if status not in FINAL:
        return
    now = utcnow()
    execute(
        "UPDATE order_etas SET expected = NULL, earliest = NULL, latest = NULL, stops_before = NULL,"
        " reason = NULL, updated_at = %s, delivered_at = IF(%s, %s, NULL),"
        " error_seconds = IF(%s AND last_expected IS NOT NULL,"
        "   TIMESTAMPDIFF(SECOND, last_expected, COALESCE(arrived_at, %s)), NULL),"
        " abs_error_seconds = ABS(error_seconds),"
        " in_window = IF(%s AND last_expected IS NOT NULL,"
        "   COALESCE(arrived_at, %s) BETWEEN last_earliest AND last_latest, NULL)"
        " WHERE order_id = %s",
        (now, status == "Delivered", now, status == "Delivered", now, status == "Delivered", now, order_id),
    )
    execute("UPDATE orders SET late_risk = 0 WHERE order_id = %s AND late_risk = 1", (order_id,))


def view(order):
    """(eta, reason) for the API: the stored ETA, or None with why there is none."""
    row = query(
        "SELECT o.status, o.assigned_to, o.delivery_latitude, o.delivery_longitude, e.expected, e.earliest,"
        " e.latest, e.stops_before, e.updated_at, e.reason FROM orders o"
        " LEFT JOIN order_etas e ON e.order_id = o.order_id WHERE o.order_id = %s",
        (order["order_id"],),
        one=True,
    )
    if row is None or row["status"] in FINAL:
        return None, "final"
    if row["assigned_to"] is None:
        return None, "not_assigned"
    if row["delivery_latitude"] is None or row["delivery_longitude"] is None:
        return None, "no_coordinates"
    if row["expected"] is None:
        return None, row["reason"] or "not_computed"
    return {
        "expected": iso(row["expected"]),
        "earliest": iso(row["earliest"]),
        "latest": iso(row["latest"]),
        "stops_before": row["stops_before"],
        "updated_at": iso(row["updated_at"]),
    }, None


def _nearest_rank(histogram, total, fraction):
    """The smallest value with at least `fraction` of `total` values at or below it."""
    rank, seen = max(1, math.ceil(fraction * total)), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None


def _figures(histogram, inside, judged):
    total = sum(histogram.values())
    return {
        "count": total,
        "median_abs_error_seconds": _nearest_rank(histogram, total, 0.5) if total else None,
        "p90_abs_error_seconds": _nearest_rank(histogram, total, 0.9) if total else None,
        "inside_window_share": round(inside / judged, 4) if judged else None,
    }


def accuracy(ranges):
    """The analytics `eta` block: over the orders delivered in the half-open [low, high) `ranges` (a month
    each, so that no statement nears the read timeout) with a measured ETA, the count, median and 90th
    percentile (nearest rank) of |actual - last ETA| in seconds, and the share that arrived inside the
    promised window; overall and per courier. Each range is one read of a covering index, grouped by
    (courier, error): the answer is a histogram, not the rows."""
    rows = []
    for low, high in ranges:
        rows += query(
            "SELECT delivery_person_id AS courier, abs_error_seconds AS error, COUNT(*) AS n,"
            " SUM(in_window) AS inside, COUNT(in_window) AS judged FROM order_etas"
            " WHERE delivered_at >= %s AND delivered_at < %s AND abs_error_seconds IS NOT NULL"
            " GROUP BY delivery_person_id, abs_error_seconds",
            (low, high),
        )
    overall, couriers = defaultdict(int), defaultdict(lambda: [defaultdict(int), 0, 0])
    inside = judged = 0
    for row in rows:
        overall[row["error"]] += row["n"]
        entry = couriers[row["courier"]]
        entry[0][row["error"]] += row["n"]
        entry[1] += int(row["inside"] or 0)
        entry[2] += int(row["judged"] or 0)
        inside += int(row["inside"] or 0)
        judged += int(row["judged"] or 0)
    return {
        **_figures(overall, inside, judged),
        "couriers": [
            {"delivery_person_id": courier, **_figures(*couriers[courier])}
            for courier in sorted(couriers, key=lambda c: (c is None, c or 0))
        ],
    }
