"""Orders: placing them (idempotently), reading them in each role's view, and listing them page by page."""

import hashlib
import json
import secrets
from datetime import datetime

import pymysql
from flask import current_app

from . import dispatch, pagination, proof, shifts
from .db import execute, query, transaction
from .errors import conflict
from .events import add_event
from .validation import clean
from .vocabulary import COURIER, CUSTOMER, allowed_next

TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U

ORDER_COLUMNS = (
    "o.order_id, o.tracking_number, o.customer_id, o.assigned_to, o.status, o.location,"
    " o.pickup_address, o.delivery_address, o.recipient_name, o.recipient_phone, o.description,"
    " o.weight_kg, o.created_at, o.updated_at, o.closed_at, o.pickup_latitude, o.pickup_longitude,"
    " o.delivery_latitude, o.delivery_longitude, o.window_start, o.window_end, o.late_risk"
)

# Sort orders a list accepts, each with its key columns (from this allow-list only) and their types.
ORDER_SORTS = {
    "-created_at": (("o.created_at", "o.order_id"), True, (datetime, int)),
    "created_at": (("o.created_at", "o.order_id"), False, (datetime, int)),
}


def new_tracking_number():
    """CT + 16 random Crockford base32 characters: 80 random bits, unrelated to the order id."""
    return "CT" + "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(16))


def _request_hash(body):
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def with_allowed_next(order, role):
    """The order with `allowed_next`: the statuses `role` may move it to now (what the console offers)."""
    if order is not None:
        order["allowed_next"] = allowed_next(order["status"], role)
        if "late_risk" in order:
            order["late_risk"] = bool(order["late_risk"])
    return order


def get_order(order_id, role):
    """One order, as `role` sees it."""
    row = query(f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.order_id = %s", (order_id,), one=True)
    return with_allowed_next(row, role)


def _replay(customer_id, key, request_hash):
    existing = query(
        f"SELECT {ORDER_COLUMNS}, o.request_hash FROM orders o"
        " WHERE o.customer_id = %s AND o.idempotency_key = %s",
        (customer_id, key),
        one=True,
    )
    if existing is None:
        return None
    if existing.pop("request_hash") != request_hash:
        raise conflict(
            "This Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        )
    return with_allowed_next(existing, CUSTOMER)


def place_order(caller, body, idempotency_key=None):
    """Create an order and its first event; return (order, created). A repeated key returns the original."""
    fields = {name: clean(body.get(name)) for name in body}
    request_hash = _request_hash(fields)
    config = current_app.config
    if idempotency_key:
        existing = _replay(caller.id, idempotency_key, request_hash)
        if existing:
            return existing, False
    placed = dispatch.order_fields(fields, shifts.now())
    # Without coordinates, the worker geocodes the addresses when a geocoder is configured.
    missing = placed["pickup_latitude"] is None or placed["delivery_latitude"] is None
    geocode = "pending" if missing and config["GEOCODER_URL"] else None
    try:
        with transaction():
            customer = query("SELECT address FROM customers WHERE customer_id = %s", (caller.id,), one=True)
            tracking_number = new_tracking_number()
            # Only the hash of the proof-of-delivery code is stored; the code itself is derived again.
            code_hash = proof.code_hash(proof.delivery_code(tracking_number, current_app.config))
            order_id, _ = execute(
                "INSERT INTO orders (tracking_number, customer_id, pickup_address, delivery_address,"
                " recipient_name, recipient_phone, description, weight_kg, idempotency_key, request_hash,"
                " delivery_code_hash, pickup_latitude, pickup_longitude, delivery_latitude, delivery_longitude,"
                " window_start, window_end, geocode_status)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    tracking_number,
                    caller.id,
                    fields.get("pickup_address") or customer["address"],
                    fields["delivery_address"],
                    fields["recipient_name"],
                    fields.get("recipient_phone"),
                    fields.get("description"),
                    fields.get("weight_kg"),
                    idempotency_key or None,
                    request_hash if idempotency_key else None,
                    code_hash,
                    *placed.values(),
                    geocode,
                ),
            )
            add_event(order_id, "created", "Pending", caller, note="Order placed")
            if config["AUTO_DISPATCH"] == "nearest":
                dispatch.auto_assign(order_id, config)
    except pymysql.err.IntegrityError:
        # Another request with the same key won the race: answer as a replay of it.
        existing = idempotency_key and _replay(caller.id, idempotency_key, request_hash)
        if existing:
            return existing, False
        raise
    return get_order(order_id, CUSTOMER), True


def _order_page(where, args, columns, descending, page, role):
    """One page of orders matching `where`, as `role` sees them; columns and fragments come from allow-lists."""
    after_sql, after_args = pagination.keyset(columns, descending, page.after)
    rows = query(
        f"SELECT {ORDER_COLUMNS} FROM orders o WHERE {where} AND {after_sql}"
        f" ORDER BY {pagination.order_by(columns, descending)} LIMIT %s",
        (*args, *after_args, page.limit + 1),
    )
    names = [column.split(".")[1] for column in columns]
    for row in rows:
        with_allowed_next(row, role)
    return pagination.finish(rows, page, lambda row: [row[name] for name in names])


def list_orders(page, where, args, role):
    """One page of orders matching the filters from order_filters(), in the page's sort order."""
    columns, descending, _ = ORDER_SORTS[page.sort]
    return _order_page(" AND ".join(where), args, columns, descending, page, role)


def order_filters(
    status=None, customer_id=None, assigned_to=None, created_from=None, created_to=None, late_risk=None
):
    """WHERE fragments and their arguments for the order list filters."""
    where, args = ["1=1"], []
    if late_risk is not None:
        where.append("o.late_risk = %s")
        args.append(int(late_risk == "true"))
    for column, value in (
        ("o.status = %s", status),
        ("o.customer_id = %s", customer_id),
        ("o.assigned_to = %s", assigned_to),
        ("o.created_at >= %s", created_from),
        ("o.created_at <= %s", created_to),
    ):
        if value is not None:
            where.append(column)
            args.append(value)
    return where, args


def courier_orders(courier_id, page, finished):
    """A courier's active orders (oldest first) or finished ones (newest first)."""
    if finished:
        columns, descending = ("o.closed_at", "o.order_id"), True
        where = "o.assigned_to = %s AND o.closed_at IS NOT NULL"
    else:
        columns, descending = ("o.order_id",), False
        where = "o.assigned_to = %s AND o.closed_at IS NULL"
    return _order_page(where, (courier_id,), columns, descending, page, COURIER)
