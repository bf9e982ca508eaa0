"""Support: issues raised by customers and couriers and answered by admins, and customers' feedback."""

import pymysql

from . import notifications, pagination
from .db import execute, query, transaction
from .errors import bad_request, conflict, not_found
from .validation import clean

ISSUE_COLUMNS = (
    "issue_id, user_type, user_id, order_id, message, status, response, responded_by, responded_at,"
    " created_at, updated_at"
)
ISSUE_SORTS = {"-issue_id": True, "issue_id": False}


def get_issue(issue_id):
    return query(f"SELECT {ISSUE_COLUMNS} FROM issues WHERE issue_id = %s", (issue_id,), one=True)


def _order_visible_to(caller, order_id):
    """Whether the caller owns (customer) or carries or carried (courier) the order."""
    if caller.role == "customer":
        sql = "SELECT order_id FROM orders WHERE order_id = %s AND customer_id = %s"
    else:
        sql = (
            "SELECT order_id FROM orders WHERE order_id = %s AND (assigned_to = %s OR EXISTS ("
            " SELECT 1 FROM order_events e WHERE e.order_id = orders.order_id"
            " AND e.actor_role = 'delivery_person' AND e.actor_id = %s))"
        )
        return query(sql, (order_id, caller.id, caller.id), one=True) is not None
    return query(sql, (order_id, caller.id), one=True) is not None


def raise_issue(caller, message, order_id=None):
    if order_id is not None and not _order_visible_to(caller, order_id):
        raise not_found("Order")
    with transaction():
        issue_id, _ = execute(
            "INSERT INTO issues (user_type, user_id, order_id, message) VALUES (%s, %s, %s, %s)",
            (caller.role, caller.id, order_id, clean(message)),
        )
    return get_issue(issue_id)


def list_issues(page, status=None, user=None):
    """One page of issues, optionally only one status or one user's, by issue id."""
    descending = ISSUE_SORTS[page.sort]
    where, args = ["1=1"], []
    if status:
        where.append("status = %s")
        args.append(status)
    if user:
        where.append("user_type = %s AND user_id = %s")
        args += [user.role, user.id]
    after_sql, after_args = pagination.keyset(("issue_id",), descending, page.after)
    rows = query(
        f"SELECT {ISSUE_COLUMNS} FROM issues WHERE {' AND '.join(where)} AND {after_sql}"
        f" ORDER BY issue_id{' DESC' if descending else ''} LIMIT %s",
        (*args, *after_args, page.limit + 1),
    )
    return pagination.finish(rows, page, lambda row: [row["issue_id"]])


def answer_issue(admin, issue_id, response=None, status=None):
    """Record an admin's answer and/or a new status on an issue."""
    response = clean(response)
    if response is None and status is None:
        raise bad_request(
            "Send a response, a status, or both",
            "missing_fields",
            {"response": "required without status", "status": "required without response"},
        )
    with transaction():
        row = query("SELECT issue_id FROM issues WHERE issue_id = %s FOR UPDATE", (issue_id,), one=True)
        if row is None:
            raise not_found("Issue")
        if response is not None:
            execute(
                "UPDATE issues SET response = %s, responded_by = %s, responded_at = UTC_TIMESTAMP(6)"
                " WHERE issue_id = %s",
                (response, admin.id, issue_id),
            )
        if status is not None:
            execute("UPDATE issues SET status = %s WHERE issue_id = %s", (status, issue_id))
        if response is not None:
            notifications.on_issue_answered(issue_id)  # queued in this transaction (the outbox)
    return get_issue(issue_id)


def add_feedback(caller, order_id, text, rating=None):
    """Feedback on the customer's own delivered order, once per order."""
    order = query("SELECT customer_id, status FROM orders WHERE order_id = %s", (order_id,), one=True)
    if order is None or order["customer_id"] != caller.id:
        raise not_found("Order")
    if order["status"] != "Delivered":
        raise conflict(
            f"Feedback can be given once the order is Delivered (it is {order['status']})",
            "order_not_delivered",
        )
    try:
        with transaction():
            feedback_id, _ = execute(
                "INSERT INTO feedback (order_id, customer_id, feedback, rating) VALUES (%s, %s, %s, %s)",
                (order_id, caller.id, clean(text), rating),
            )
    except pymysql.err.IntegrityError:
        raise conflict("Feedback was already given for this order", "feedback_exists") from None
    return query(
        "SELECT feedback_id, order_id, customer_id, feedback, rating, created_at FROM feedback"
        " WHERE feedback_id = %s",
        (feedback_id,),
        one=True,
    )
