"""Proof of delivery: each order's secret delivery code, its QR code, and checking what the courier scans.

An order's code is derived from its tracking number with a server-side key (HMAC-SHA256), so its QR code can
be drawn again at any time; the database keeps only sha256(code), to compare what the courier scans against.
"""

import hashlib
import hmac
import io

import segno
from flask import Response, current_app, jsonify

from . import lifecycle, vocabulary
from .db import execute, query
from .errors import ApiError, bad_request, conflict, not_found

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # base32 without I, L, O, U
CODE_LENGTH = 10  # 50 bits
# What people and scanners get wrong: case, separators, and the letters Crockford reads as digits.
LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None})
KEY_DOMAIN = b"courier/delivery-code-key/v1"
QR_SCALE, QR_BORDER = 8, 4
QR_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


class KeptApiError(ApiError):
    """An ApiError whose transaction still commits (a counted wrong code, a lock)."""

    keep_changes = True


def code_key(config):
    """The key codes derive from: DELIVERY_CODE_KEY, else one derived from JWT_SECRET_KEY (domain-separated)."""
    if config.get("DELIVERY_CODE_KEY"):
        return config["DELIVERY_CODE_KEY"].encode()
    return hmac.new(config["JWT_SECRET_KEY"].encode(), KEY_DOMAIN, hashlib.sha256).digest()


def delivery_code(tracking_number, config):
    """The order's delivery code: 10 Crockford base32 characters of HMAC(key, "delivery-code:" + number)."""
    message = ("delivery-code:" + tracking_number).encode()
    number = int.from_bytes(hmac.new(code_key(config), message, hashlib.sha256).digest(), "big")
    return "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in range(CODE_LENGTH))


def code_hash(code):
    """What the database stores: sha256 of the (normalised) code, hex."""
    return hashlib.sha256(code.encode()).hexdigest()


def normalise(code):
    """A typed or scanned code in canonical form: no spaces or hyphens, upper case, O->0, I/L->1."""
    return code.strip().upper().translate(LOOKALIKES)


def code_for_order(order_id):
    """The delivery code of an order (for tests and scripts; needs an app context), or None if missing."""
    row = query("SELECT tracking_number FROM orders WHERE order_id = %s", (order_id,), one=True)
    return row and delivery_code(row["tracking_number"], current_app.config)


def _stored_hash(row):
    """The order's stored code hash, filled in from the derived code for orders placed without one."""
    if row["delivery_code_hash"]:
        return row["delivery_code_hash"]
    stored = code_hash(delivery_code(row["tracking_number"], current_app.config))
    execute("UPDATE orders SET delivery_code_hash = %s WHERE order_id = %s", (stored, row["order_id"]))
    return stored


def check_code(row, code, actor):
    """Raise unless `code` is the delivery code of the order `row` (from lifecycle.lock_order, in a transaction).

    400 without a code (not counted), 409 on a locked order, 422 for any other code (counted and committed; the
    POD_MAX_FAILURES-th one also locks the order).
    """
    if not isinstance(code, str) or not code.strip():
        raise bad_request(
            "Missing required fields",
            "missing_fields",
            {"code": "required to set Delivered: scan the customer's QR code"},
        )
    if row["delivery_locked_at"] is not None:
        raise conflict(
            "Delivery is locked after too many wrong codes: an admin must review this order",
            "delivery_locked",
            locked_at=row["delivery_locked_at"],
        )
    # Anything that is not the order's code is a wrong code, counted, whatever its shape: a guess is a guess.
    candidate = normalise(code)
    if hmac.compare_digest(code_hash(candidate), _stored_hash(row)):
        return
    _wrong_code(row, actor)


def _wrong_code(row, actor):
    """Count a wrong code, lock the order at the limit, and raise 422 (its changes commit)."""
    limit = current_app.config["POD_MAX_FAILURES"]
    failures = min(row["code_failures"] + 1, 255)
    locked = failures >= limit
    execute(
        "UPDATE orders SET code_failures = %s,"
        " delivery_locked_at = IF(%s, UTC_TIMESTAMP(6), delivery_locked_at) WHERE order_id = %s",
        (failures, locked, row["order_id"]),
    )
    if locked:
        note = f"Locked after {failures} wrong delivery codes: an admin must review"
        lifecycle.add_event(row["order_id"], "locked", row["status"], actor, note=note)
        message = "Wrong delivery code; too many wrong codes, so the order is locked for an admin to review"
    else:
        message = "Wrong delivery code"
    raise KeptApiError(
        422,
        message,
        "wrong_code",
        {"code": "does not match this order's delivery code"},
        attempts_left=max(limit - failures, 0),
        locked=locked,
    )


def _locked_order(order_id):
    order = lifecycle.lock_order(order_id)
    if order is None:
        raise not_found("Order")
    return order


def admin_override(order_id, actor, reason):
    """An admin sets an Out for Delivery order Delivered without the code (also when locked)."""
    if not reason:
        raise bad_request("Missing required fields", "missing_fields", {"reason": "required"})
    order = _locked_order(order_id)
    lifecycle.check_transition(order["status"], "Delivered", actor.role)
    lifecycle.set_status(order_id, "Delivered")
    lifecycle.add_event(
        order_id,
        "status",
        "Delivered",
        actor,
        note=f"Delivered by admin override: {reason}",
        proved_by="admin_override",
    )


def unlock(order_id, actor, reason=None):
    """An admin lets the courier try the code again on a locked order: the wrong-code count restarts."""
    order = _locked_order(order_id)
    if order["delivery_locked_at"] is None:
        raise conflict("Order is not locked", "not_locked", code_failures=order["code_failures"])
    if order["status"] in vocabulary.FINAL:
        raise conflict(f"Order is {order['status']}, which is final", "order_closed")
    execute("UPDATE orders SET code_failures = 0, delivery_locked_at = NULL WHERE order_id = %s", (order_id,))
    note = f"Delivery code unlocked: {reason}" if reason else "Delivery code unlocked by an admin"
    lifecycle.add_event(order_id, "unlocked", order["status"], actor, note=note)


def _customer_order(order_id, customer_id):
    """The customer's own order (tracking number); someone else's is reported as not found."""
    row = query(
        "SELECT order_id, tracking_number, customer_id FROM orders WHERE order_id = %s", (order_id,), one=True
    )
    if row is None or row["customer_id"] != customer_id:
        raise not_found("Order")
    return row


def qr_image(code, fmt="png"):
    """The QR code of `code` (and nothing else) as PNG or SVG bytes."""
    buffer = io.BytesIO()
    segno.make_qr(code, error="m").save(buffer, kind=fmt, scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()


def qr_response(order_id, customer_id, fmt):
    """The customer's order's delivery-code QR code, never cached."""
    order = _customer_order(order_id, customer_id)
    code = delivery_code(order["tracking_number"], current_app.config)
    response = Response(qr_image(code, fmt), mimetype=QR_TYPES[fmt])
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["Content-Disposition"] = f'inline; filename="delivery-code-{order_id}.{fmt}"'
    return response


def customer_code(order_id, customer_id):
    """The customer's order's delivery code as text, with the address of its QR code."""
    order = _customer_order(order_id, customer_id)
    response = jsonify(
        order_id=order["order_id"],
        tracking_number=order["tracking_number"],
        code=delivery_code(order["tracking_number"], current_app.config),
        qr_url=f"/customer/orders/{order['order_id']}/qr",
    )
    response.headers["Cache-Control"] = "no-store"
    return response
