"""Where a parcel is: timelines, courier positions, and the customer's and the public's views."""

from .db import execute, query
from .errors import conflict, not_found
from .lifecycle import actor_name

TIMELINE_COLUMNS = (
    "event_id, type, status, note, reason, location, latitude, longitude, actor_role, actor_name, created_at"
)


def timeline(order_id, after_event_id=0):
    """The order's events, oldest first (only those after `after_event_id`)."""
    return query(
        f"SELECT {TIMELINE_COLUMNS} FROM order_events WHERE order_id = %s AND event_id > %s"
        " ORDER BY event_id",
        (order_id, after_event_id),
    )


def event_json(row, public=False):
    """An event as the API shows it; the public view hides names and exact coordinates."""
    event = {
        "event_id": row["event_id"],
        "type": row["type"],
        "status": row["status"],
        "at": row["created_at"],
        "note": row["note"],
        "reason": row["reason"],
        "location": row["location"],
        "actor": {"role": row["actor_role"]},
    }
    if not public:
        event["actor"]["name"] = row["actor_name"]
    return event


def courier_of(order):
    if order["assigned_to"] is None:
        return None
    row = query(
        "SELECT delivery_person_id, name, phone, latitude, longitude, location, position_at"
        " FROM delivery_persons WHERE delivery_person_id = %s",
        (order["assigned_to"],),
        one=True,
    )
    return row


def out_for_delivery_since(order_id):
    """When the order last went Out for Delivery (the start of the trail customers may see)."""
    row = query(
        "SELECT MAX(created_at) AS at FROM order_events"
        " WHERE order_id = %s AND type = 'status' AND status = 'Out for Delivery'",
        (order_id,),
        one=True,
    )
    return row["at"] if row else None


def trail(courier_id, since):
    return query(
        "SELECT latitude, longitude, location, created_at AS at FROM courier_positions"
        " WHERE delivery_person_id = %s AND created_at >= %s ORDER BY created_at, position_id",
        (courier_id, since),
    )


def position_json(courier, rounding=None):
    if courier is None or courier["position_at"] is None:
        return None
    lat, lng = courier["latitude"], courier["longitude"]
    if lat is not None and rounding is not None:
        lat, lng = round(float(lat), rounding), round(float(lng), rounding)
    return {"latitude": lat, "longitude": lng, "location": courier["location"], "at": courier["position_at"]}


def customer_view(order):
    """The order, its full timeline, the courier's name and, while Out for Delivery, position and trail."""
    courier = courier_of(order)
    view = {
        "order": order,
        "events": [event_json(e) for e in timeline(order["order_id"])],
        "courier": {"delivery_person_id": courier["delivery_person_id"], "name": courier["name"]}
        if courier
        else None,
        "last_position": None,
        "trail": [],
    }
    if courier and order["status"] == "Out for Delivery":
        view["last_position"] = position_json(courier)
        since = out_for_delivery_since(order["order_id"])
        if since is not None:
            view["trail"] = trail(courier["delivery_person_id"], since)
    return view


def update_location(caller, latitude, longitude, location, order_id=None):
    """Record a courier's position on their profile, their history, and their active orders.

    Call inside a transaction. Returns the ids of the orders updated.
    """
    if order_id is not None:
        orders = query(
            "SELECT order_id, status, closed_at FROM orders"
            " WHERE order_id = %s AND assigned_to = %s FOR UPDATE",
            (order_id, caller.id),
        )
        if not orders:
            raise not_found("Order")
        if orders[0]["closed_at"] is not None:
            raise conflict(f"Order is {orders[0]['status']}, which is final", "order_closed")
    else:
        orders = query(
            "SELECT order_id, status FROM orders WHERE assigned_to = %s AND closed_at IS NULL"
            " ORDER BY order_id FOR UPDATE",
            (caller.id,),
        )
    has_position = latitude is not None
    execute(
        "UPDATE delivery_persons SET"
        " latitude = IF(%s, %s, latitude), longitude = IF(%s, %s, longitude),"
        " location = COALESCE(%s, location), position_at = UTC_TIMESTAMP(6)"
        " WHERE delivery_person_id = %s",
        (has_position, latitude, has_position, longitude, location, caller.id),
    )
    execute(
        "INSERT INTO courier_positions (delivery_person_id, latitude, longitude, location)"
        " VALUES (%s, %s, %s, %s)",
        (caller.id, latitude, longitude, location),
    )
    if not orders:
        return []
    ids = [row["order_id"] for row in orders]
    placeholders = ", ".join(["%s"] * len(ids))
    execute(
        "UPDATE orders SET location = COALESCE(%s, location),"
        f" latitude = IF(%s, %s, latitude), longitude = IF(%s, %s, longitude), position_at = UTC_TIMESTAMP(6)"
        f" WHERE order_id IN ({placeholders})",
        (location, has_position, latitude, has_position, longitude, *ids),
    )
    name = actor_name(caller)
    rows = [
        (row["order_id"], row["status"], location, latitude, longitude, caller.id, name) for row in orders
    ]
    row_sql = "(%s, 'location', %s, 'Location updated', %s, %s, %s, 'delivery_person', %s, %s)"
    values = ", ".join([row_sql] * len(rows))
    execute(
        "INSERT INTO order_events (order_id, type, status, note, location, latitude, longitude,"
        f" actor_role, actor_id, actor_name) VALUES {values}",
        tuple(value for row in rows for value in row),
    )
    return ids
