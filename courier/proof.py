"""Proof of delivery: each order's secret delivery code, its QR code, and checking what the courier scans.

STUB: to be implemented (issue 7, item 6).
"""


def check_code(order_id, code, actor):
    """Raise unless `code` is the order's delivery code (call on a locked order, inside a transaction)."""


def admin_override(order_id, actor, reason):
    raise NotImplementedError


def unlock(order_id, actor, reason=None):
    raise NotImplementedError


def qr_response(order_id, customer_id, fmt):
    raise NotImplementedError


def customer_code(order_id, customer_id):
    raise NotImplementedError
