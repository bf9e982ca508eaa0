"""Where a parcel is: timelines, courier positions, and the customer's and the public's views."""

from flask import current_app

from . import eta, pod_files, replica
from .db import query
from .errors import not_found
from .orders import ORDER_COLUMNS

TIMELINE_COLUMNS = (
    "event_id, type, status, note, reason, location, latitude, longitude, actor_role, actor_name, created_at,"
    " proof"
)
OUT_FOR_DELIVERY = "Out for Delivery"
# The public sees coordinates only while Out for Delivery, rounded to 3 decimals (about 110 m).
PUBLIC_DECIMALS = 3
MAX_TRACKING_NUMBER = 24  # orders.tracking_number is VARCHAR(24)


def timeline(order_id, after_event_id=0):
    """The order's events, oldest first (only those after `after_event_id`)."""
    return query(
        f"SELECT {TIMELINE_COLUMNS} FROM order_events WHERE order_id = %s AND event_id > %s"
        " ORDER BY event_id",
        (order_id, after_event_id),
    )


def event_json(row, public=False):
    """An event as the API shows it.

    The public view keeps only type, status, time, location text, reason code, proof and the actor's role:
    no names, and no free-text note (notes such as "Assigned to Dave Courier" carry names).
    proof: how a Delivered event was proven ("code" or "admin_override"); null on every other event.
    """
    if public:
        return {
            "type": row["type"],
            "status": row["status"],
            "at": row["created_at"],
            "location": row["location"],
            "reason": row["reason"],
            "proof": row["proof"],
            "actor": {"role": row["actor_role"]},
        }
    return {
        "event_id": row["event_id"],
        "type": row["type"],
        "status": row["status"],
        "at": row["created_at"],
        "note": row["note"],
        "reason": row["reason"],
        "location": row["location"],
        "proof": row["proof"],
        "actor": {"role": row["actor_role"], "name": row["actor_name"]},
    }


def rounded(latitude, longitude):
    """Coordinates rounded for the public (about 100 m), or None without a position."""
    if latitude is None or longitude is None:
        return None
    return {
        "latitude": round(float(latitude), PUBLIC_DECIMALS),
        "longitude": round(float(longitude), PUBLIC_DECIMALS),
    }


def live_event_json(row, public, order_status):
    """An event as the live streams send it: a location event made while the order is (still) Out for
    Delivery also carries the position, exact for the owner and rounded for the public."""
    event = event_json(row, public)
    if (
        row["type"] == "location"
        and row["status"] == OUT_FOR_DELIVERY
        and order_status == OUT_FOR_DELIVERY
        and row["latitude"] is not None
    ):
        if public:
            event["position"] = rounded(row["latitude"], row["longitude"])
        else:
            event["position"] = {"latitude": row["latitude"], "longitude": row["longitude"]}
    return event


# The assigned courier's columns, fetched in the same query as the order (prefixed, then split off).
COURIER_COLUMNS = (
    "d.delivery_person_id AS c_delivery_person_id, d.name AS c_name, d.latitude AS c_latitude,"
    " d.longitude AS c_longitude, d.location AS c_location, d.position_at AS c_position_at"
)


def _order_and_courier(columns, where, args):
    """One row of an order with its courier (LEFT JOIN), split into (order, courier or None)."""
    row = query(
        f"SELECT {columns}, {COURIER_COLUMNS} FROM orders o"
        f" LEFT JOIN delivery_persons d ON d.delivery_person_id = o.assigned_to WHERE {where}",
        args,
        one=True,
    )
    if row is None:
        return None, None
    courier = {key[2:]: row.pop(key) for key in list(row) if key.startswith("c_")}
    if "late_risk" in row:  # a TINYINT(1) column: the API says true or false
        row["late_risk"] = bool(row["late_risk"])
    return row, (courier if courier["delivery_person_id"] is not None else None)


def customer_order(order_id, customer_id):
    """The customer's own order and its courier; someone else's order is reported as not found."""
    order, courier = _order_and_courier(ORDER_COLUMNS, "o.order_id = %s", (order_id,))
    if order is None or order["customer_id"] != customer_id:
        raise not_found("Order")
    return order, courier


def out_for_delivery_since(events):
    """When the order last went Out for Delivery (the start of the trail customers may see)."""
    starts = [e["created_at"] for e in events if e["type"] == "status" and e["status"] == OUT_FOR_DELIVERY]
    return starts[-1] if starts else None


TRAIL_POINTS = 500


def trail(courier_id, since):
    """The courier's positions taken since `since`, in the order the device took them: the latest
    TRAIL_POINTS of them."""
    rows = query(
        "SELECT latitude, longitude, location, recorded_at AS at FROM courier_positions"
        " WHERE delivery_person_id = %s AND recorded_at >= %s"
        " ORDER BY recorded_at DESC LIMIT %s",
        (courier_id, since, TRAIL_POINTS),
    )
    rows.reverse()
    return rows


def position_json(courier, rounding=None):
    if courier is None or courier["position_at"] is None:
        return None
    lat, lng = courier["latitude"], courier["longitude"]
    if lat is not None and rounding is not None:
        lat, lng = round(float(lat), rounding), round(float(lng), rounding)
    return {"latitude": lat, "longitude": lng, "location": courier["location"], "at": courier["position_at"]}


PROOF_STATUSES = ("Delivered", "Failed Attempt")
NO_PROOF = {"delivered": False, "delivered_at": None, "proved_by": [], "files": []}


def customer_view(order, courier):
    """The order, its full timeline, the courier's name and, while Out for Delivery, position and trail."""
    events = timeline(order["order_id"])
    # Proof exists only after a Delivered or Failed Attempt event: ask for it only then.
    if any(e["status"] in PROOF_STATUSES for e in events):
        base = f"/customer/orders/{order['order_id']}/proof"
        order = {**order, "proof": pod_files.proof_summary(order["order_id"], base)}
    else:
        order = {**order, "proof": dict(NO_PROOF, proved_by=[], files=[])}
    view = {
        "order": order,
        "events": [event_json(e) for e in events],
        "courier": {"delivery_person_id": courier["delivery_person_id"], "name": courier["name"]}
        if courier
        else None,
        "last_position": None,
        "trail": [],
    }
    if courier and order["status"] == "Out for Delivery":
        view["last_position"] = position_json(courier)
        since = out_for_delivery_since(events)
        if since is not None:
            view["trail"] = trail(courier["delivery_person_id"], since)
    view["eta"], view["eta_reason"] = eta.view(order)
    return view


@replica.reads()  # public: a few seconds old is fine
def public_order(tracking_number):
    """The order behind a tracking number; an unknown number is 404."""
    row = courier = None
    if 0 < len(tracking_number) <= MAX_TRACKING_NUMBER:
        row, courier = _order_and_courier(
            "o.order_id, o.tracking_number, o.assigned_to, o.status, o.location, o.created_at, o.updated_at",
            "o.tracking_number = %s",
            (tracking_number,),
        )
    if row is None:
        raise not_found("Tracking number")
    return row, courier


@replica.reads()
def public_view(order, courier):
    """What anyone with the tracking number sees: status, public timeline, last location text and,
    only while Out for Delivery, the courier's position rounded to about 100 m. Never names, emails,
    phone numbers, addresses or exact coordinates."""
    position = None
    if order["status"] == OUT_FOR_DELIVERY:
        if courier is not None and courier["position_at"] is not None:
            position = rounded(courier["latitude"], courier["longitude"])
            if position is not None:
                position["at"] = courier["position_at"]
    eta_window, eta_reason = eta.view(order)
    return {
        "tracking_number": order["tracking_number"],
        "status": order["status"],
        "created_at": order["created_at"],
        "updated_at": order["updated_at"],
        "last_location": order["location"],
        "position": position,
        "events": [event_json(e, public=True) for e in timeline(order["order_id"])],
        "eta": eta_window,
        "eta_reason": eta_reason,
    }


def track_rate_limit():
    """The per-client limit of the public tracking endpoints (config TRACK_RATE_LIMIT)."""
    return current_app.config["TRACK_RATE_LIMIT"]
