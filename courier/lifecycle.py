"""The order lifecycle: every change of an order's status, each one evented, under the order's row lock, in
a transaction of its own (see courier/db.py). Who may make which move is vocabulary.TRANSITIONS."""

from . import eta, pod_files
from .db import execute, query, require_transaction, transaction
from .errors import ApiError, bad_request, conflict, not_found
from .events import add_event
from .vocabulary import FINAL, TRANSITIONS, allowed_next


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


def lock_order(order_id):
    """Read an order (with its proof-of-delivery state) and hold its row lock until the transaction ends."""
    require_transaction()
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
    eta.on_status(order_id, status)


def assign(order_id, courier_id, reassign, actor):
    """Assign (or, with reassign, move) an order to a courier."""
    with transaction():
        before = _assign(order_id, courier_id, reassign, actor)
    for courier in {before, courier_id} - {None}:
        eta.recompute_quietly(courier)


def _assign(order_id, courier_id, reassign, actor):
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
    return order["assigned_to"]


def cancel(order_id, actor, reason=None, customer_id=None):
    """Cancel an order; a customer may cancel only their own."""
    with transaction():
        order = lock_order(order_id)
        if order is None or (customer_id is not None and order["customer_id"] != customer_id):
            raise not_found("Order")
        check_transition(order["status"], "Cancelled", actor.role)
        set_status(order_id, "Cancelled")
        add_event(order_id, "status", "Cancelled", actor, note=reason or "Cancelled")


def courier_update(
    order_id, courier_id, status, actor, note=None, location=None, reason=None, code=None, files=None
):
    """A courier's status change on an order assigned to them; Delivered needs what POD_REQUIRE names (by
    default the proof-of-delivery code). files: checked proof files ({"photo": ..., "signature": ...}, see
    pod_files), stored with the change in its transaction.

    A wrong code answers 422 and stays counted: it is counted in this function's own transaction, which
    commits, and the 422 is raised after it (so this must not run inside another transaction).
    """
    if status == "Failed Attempt" and not reason:
        raise bad_request(
            "reason is required for a failed attempt",
            "missing_fields",
            {"reason": "required"},
        )
    with transaction():
        wrong_code = _courier_update(
            order_id, courier_id, status, actor, note, location, reason, code, files or {}
        )
    if wrong_code is not None:
        raise wrong_code
    eta.recompute_quietly(courier_id)  # a stop finished (or the route changed): the others move


def _courier_update(order_id, courier_id, status, actor, note, location, reason, code, files):
    """The change itself, or (nothing changed but the count) the 422 of a wrong delivery code."""
    order = lock_order(order_id)
    if order is None or order["assigned_to"] != courier_id:
        raise not_found("Order")
    check_transition(order["status"], status, actor.role)
    proved_by = None
    if status == "Delivered":
        # 400 without what POD_REQUIRE asks for, 409 locked; a wrong code: counted, its 422 returned
        proved_by, wrong_code = pod_files.check_delivery_proof(order, code, tuple(files))
        if wrong_code is not None:
            if wrong_code.extra["locked"]:
                note = f"Locked after {wrong_code.failures} wrong delivery codes: an admin must review"
                add_event(order_id, "locked", order["status"], actor, note=note)
            return wrong_code
    set_status(order_id, status, location=location)
    event_id = add_event(
        order_id,
        "status",
        status,
        actor,
        note=note,
        location=location,
        reason=reason if status == "Failed Attempt" else None,
        proved_by=proved_by,
    )
    pod_files.store(order_id, event_id, courier_id, files)
    return None


def admin_return(order_id, actor, note=None):
    """An admin closes a failed delivery as Returned."""
    with transaction():
        order = lock_order(order_id)
        if order is None:
            raise not_found("Order")
        check_transition(order["status"], "Returned", actor.role)
        set_status(order_id, "Returned")
        add_event(order_id, "status", "Returned", actor, note=note or "Returned to sender")


def admin_override(order_id, actor, reason):
    """An admin sets an Out for Delivery order Delivered without the code (also when locked)."""
    if not reason:
        raise bad_request("Missing required fields", "missing_fields", {"reason": "required"})
    with transaction():
        order = lock_order(order_id)
        if order is None:
            raise not_found("Order")
        check_transition(order["status"], "Delivered", actor.role)
        set_status(order_id, "Delivered")
        add_event(
            order_id,
            "status",
            "Delivered",
            actor,
            note=f"Delivered by admin override: {reason}",
            proved_by="admin_override",
        )


def unlock(order_id, actor, reason=None):
    """An admin lets the courier try the code again on a locked order: the wrong-code count restarts."""
    with transaction():
        order = lock_order(order_id)
        if order is None:
            raise not_found("Order")
        if order["delivery_locked_at"] is None:
            raise conflict("Order is not locked", "not_locked", code_failures=order["code_failures"])
        if order["status"] in FINAL:
            raise conflict(f"Order is {order['status']}, which is final", "order_closed")
        execute(
            "UPDATE orders SET code_failures = 0, delivery_locked_at = NULL WHERE order_id = %s", (order_id,)
        )
        note = f"Delivery code unlocked: {reason}" if reason else "Delivery code unlocked by an admin"
        add_event(order_id, "unlocked", order["status"], actor, note=note)
