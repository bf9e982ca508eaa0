"""The order lifecycle: who may move an order from which status to which, and the evented, locked change."""

from . import notifications, pod_files
from .db import execute, query
from .errors import ApiError, bad_request, conflict, not_found

ADMIN, CUSTOMER, COURIER = "admin", "customer", "delivery_person"
FINAL = ("Delivered", "Returned", "Cancelled")
ACTIVE = ("Assigned", "Picked Up", "In Transit", "Out for Delivery", "Failed Attempt")

# (from, to) -> the roles that may make that move. PRODUCT.md's table, with issue #3's refinement
# that an admin may cancel any order that is not final.
TRANSITIONS = {
    ("Pending", "Assigned"): {ADMIN},
    ("Assigned", "Assigned"): {ADMIN},  # reassignment, with "reassign": true
    ("Pending", "Cancelled"): {CUSTOMER, ADMIN},
    ("Assigned", "Cancelled"): {CUSTOMER, ADMIN},
    ("Assigned", "Picked Up"): {COURIER},
    ("Picked Up", "In Transit"): {COURIER},
    ("Picked Up", "Out for Delivery"): {COURIER},
    ("In Transit", "Out for Delivery"): {COURIER},
    ("Out for Delivery", "Delivered"): {COURIER, ADMIN},  # the admin: proof.admin_override, with a reason
    ("Out for Delivery", "Failed Attempt"): {COURIER},
    ("Failed Attempt", "Out for Delivery"): {COURIER},
    ("Failed Attempt", "Returned"): {COURIER, ADMIN},
    ("Picked Up", "Cancelled"): {ADMIN},
    ("In Transit", "Cancelled"): {ADMIN},
    ("Out for Delivery", "Cancelled"): {ADMIN},
    ("Failed Attempt", "Cancelled"): {ADMIN},
}


def allowed_next(status, role):
    """The statuses `role` may move an order in `status` to, in lifecycle order."""
    from .schemas import STATUSES

    targets = {to for (frm, to), roles in TRANSITIONS.items() if frm == status and role in roles}
    return [s for s in STATUSES if s in targets]


def check_transition(status, to, role):
    """Raise 409, naming the allowed next statuses, unless `role` may move `status` to `to`."""
    if role in TRANSITIONS.get((status, to), ()):
        return
    allowed = allowed_next(status, role)
    if status in FINAL:
        message = f"Order is {status}, which is final"
    else:
        message = f"Cannot change status from {status} to {to}"
    raise ApiError(
        409,
        message,
        "illegal_transition",
        current_status=status,
        allowed=allowed,
    )


def actor_name(caller):
    """The caller's display name, recorded on the events they cause."""
    from .auth import ACCOUNTS

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


def lock_order(order_id):
    """Read an order (with its proof-of-delivery state) and hold its row lock until the transaction ends."""
    return query(
        "SELECT order_id, tracking_number, customer_id, assigned_to, status, delivery_code_hash, code_failures,"
        " delivery_locked_at FROM orders WHERE order_id = %s FOR UPDATE",
        (order_id,),
        one=True,
    )


def set_status(order_id, status, location=None, assigned_to=None):
    """Write a new status (and closing time when it is final) on a locked order.

    A Failed Attempt also counts in orders.failed_attempts, in the same statement (analytics reads it).
    """
    execute(
        "UPDATE orders SET status = %s, location = COALESCE(%s, location),"
        " assigned_to = COALESCE(%s, assigned_to), failed_attempts = failed_attempts + %s,"
        " closed_at = IF(%s, UTC_TIMESTAMP(6), NULL) WHERE order_id = %s",
        (status, location, assigned_to, int(status == "Failed Attempt"), status in FINAL, order_id),
    )


def assign(order_id, courier_id, reassign, actor):
    """Assign (or, with reassign, move) an order to a courier. Call inside a transaction."""
    courier = query(
        "SELECT delivery_person_id, name FROM delivery_persons"
        " WHERE delivery_person_id = %s AND deleted_at IS NULL LOCK IN SHARE MODE",  # no delete can slip in
        (courier_id,),
        one=True,
    )
    if courier is None:
        raise not_found("Delivery person")
    order = lock_order(order_id)
    if order is None:
        raise not_found("Order")
    if order["status"] == "Assigned":
        if not reassign:
            raise conflict(
                'Order is already assigned; send "reassign": true to move it to another courier',
                "already_assigned",
                assigned_to=order["assigned_to"],
            )
        if order["assigned_to"] == courier_id:
            raise conflict("Order is already assigned to this courier", "already_assigned")
    check_transition(order["status"], "Assigned", actor.role)
    set_status(order_id, "Assigned", assigned_to=courier_id)
    verb = "Reassigned" if order["status"] == "Assigned" else "Assigned"
    add_event(order_id, "assignment", "Assigned", actor, note=f"{verb} to {courier['name']}")


def cancel(order_id, actor, reason=None, customer_id=None):
    """Cancel an order; a customer may cancel only their own. Call inside a transaction."""
    order = lock_order(order_id)
    if order is None or (customer_id is not None and order["customer_id"] != customer_id):
        raise not_found("Order")
    check_transition(order["status"], "Cancelled", actor.role)
    set_status(order_id, "Cancelled")
    add_event(order_id, "status", "Cancelled", actor, note=reason or "Cancelled")


def courier_update(
    order_id, courier_id, status, actor, note=None, location=None, reason=None, code=None, captured=()
):
    """A courier's status change on an order assigned to them; Delivered needs the proof POD_REQUIRE names
    (by default the proof-of-delivery code). captured: the kinds of files sent with it ("photo", "signature").

    Call inside a transaction; returns the new event's id.
    """
    if status == "Failed Attempt" and not reason:
        raise bad_request(
            "reason is required for a failed attempt",
            "missing_fields",
            {"reason": "required"},
        )
    order = lock_order(order_id)
    if order is None or order["assigned_to"] != courier_id:
        raise not_found("Order")
    check_transition(order["status"], status, actor.role)
    proved_by = None
    if status == "Delivered":
        # 400 without what POD_REQUIRE asks for, 422 a wrong code (counted), 409 locked
        proved_by = pod_files.check_delivery_proof(order, code, captured, actor)
    set_status(order_id, status, location=location)
    return add_event(
        order_id,
        "status",
        status,
        actor,
        note=note,
        location=location,
        reason=reason if status == "Failed Attempt" else None,
        proved_by=proved_by,
    )


def admin_return(order_id, actor, note=None):
    """An admin closes a failed delivery as Returned. Call inside a transaction."""
    order = lock_order(order_id)
    if order is None:
        raise not_found("Order")
    check_transition(order["status"], "Returned", actor.role)
    set_status(order_id, "Returned")
    add_event(order_id, "status", "Returned", actor, note=note or "Returned to sender")
