"""An order's timeline: appending one event (never edited or deleted) and the name recorded for who caused it.

Every part of the system that adds an event (the lifecycle, ETAs, dispatch, geocoding, positions) goes through
add_event, so each event queues its notifications in the same transaction.
"""

from . import notifications
from .auth import ACCOUNTS
from .db import execute, query
from .vocabulary import ADMIN


def actor_name(caller):
    """The caller's display name, recorded on the events they cause."""
    if caller.role not in ACCOUNTS:  # "system": automatic dispatch, geocoding
        return "System"
    table, id_column, _ = ACCOUNTS[caller.role]
    name_column = "username" if caller.role == ADMIN else "name"
    row = query(f"SELECT {name_column} AS name FROM {table} WHERE {id_column} = %s", (caller.id,), one=True)
    return row["name"] if row else None


def add_event(
    order_id, type_, status, actor, note=None, location=None, reason=None, lat=None, lng=None, proved_by=None
):
    """Append one event to an order's timeline (events are never edited or deleted).

    proved_by: on a Delivered event, how delivery was proven ("code" or "admin_override").
    """
    event_id, _ = execute(
        "INSERT INTO order_events (order_id, type, status, note, reason, location, latitude, longitude,"
        " actor_role, actor_id, actor_name, proof) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            order_id,
            type_,
            status,
            note,
            reason,
            location,
            lat,
            lng,
            actor.role,
            actor.id,
            actor_name(actor),
            proved_by,
        ),
    )
    # The event's notifications are queued in this same transaction (the outbox): both commit or neither.
    notifications.on_order_event(order_id, event_id, type_, status)
    return event_id
