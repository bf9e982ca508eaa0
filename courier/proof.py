"""Proof of delivery: each order's secret delivery code, its QR code, and checking what the courier scans.

An order's code is derived from its tracking number with a server-side key (HMAC-SHA256), so its QR code can
be drawn again at any time; the database keeps only sha256(code), to compare what the courier scans against.
"""

import hashlib
import hmac
import io

import segno
from flask import current_app

from .db import execute, query, require_transaction
from .errors import ApiError, bad_request, conflict, not_found

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # base32 without I, L, O, U
CODE_LENGTH = 10  # 50 bits
# What people and scanners get wrong: case, separators, and the letters Crockford reads as digits.
LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None})
KEY_DOMAIN = b"courier/delivery-code-key/v1"
QR_SCALE, QR_BORDER = 8, 4
QR_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


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


def _stored_hash(row):
    """The order's stored code hash, filled in from the derived code for orders placed without one."""
    if row["delivery_code_hash"]:
        return row["delivery_code_hash"]
    stored = code_hash(delivery_code(row["tracking_number"], current_app.config))
    execute("UPDATE orders SET delivery_code_hash = %s WHERE order_id = %s", (stored, row["order_id"]))
    return stored


def check_code(row, code):
    """Whether `code` is the delivery code of the order `row` (locked by lifecycle.lock_order).

    Raises 400 without a code (not counted) and 409 on a locked order. A wrong code is counted (and the
    POD_MAX_FAILURES-th one locks the order): the answer is then the 422 to raise once that count is committed.
    """
    require_transaction()
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
        return None
    return _count_wrong_code(row)


def _count_wrong_code(row):
    """Count a wrong code and lock the order at the limit; the 422 to answer with."""
    limit = current_app.config["POD_MAX_FAILURES"]
    failures = min(row["code_failures"] + 1, 255)
    locked = failures >= limit
    execute(
        "UPDATE orders SET code_failures = %s,"
        " delivery_locked_at = IF(%s, UTC_TIMESTAMP(6), delivery_locked_at) WHERE order_id = %s",
        (failures, locked, row["order_id"]),
    )
    if locked:
        message = "Wrong delivery code; too many wrong codes, so the order is locked for an admin to review"
    else:
        message = "Wrong delivery code"
    wrong = ApiError(
        422,
        message,
        "wrong_code",
        {"code": "does not match this order's delivery code"},
        attempts_left=max(limit - failures, 0),
        locked=locked,
    )
    wrong.failures = failures
    return wrong


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


def customer_qr(order_id, customer_id, fmt):
    """The customer's order's delivery-code QR code: (image bytes, file name)."""
    order = _customer_order(order_id, customer_id)
    code = delivery_code(order["tracking_number"], current_app.config)
    return qr_image(code, fmt), f"delivery-code-{order_id}.{fmt}"


def customer_code(order_id, customer_id):
    """The customer's order's delivery code as text, with the address of its QR code."""
    order = _customer_order(order_id, customer_id)
    return {
        "order_id": order["order_id"],
        "tracking_number": order["tracking_number"],
        "code": delivery_code(order["tracking_number"], current_app.config),
        "qr_url": f"/customer/orders/{order['order_id']}/qr",
    }
