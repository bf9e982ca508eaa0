"""The notification outbox: queue an event's emails, SMS and webhook deliveries in the event's own transaction.

STUB: to be implemented (issue 7, items 1-4).
"""

from dataclasses import dataclass


@dataclass
class Result:
    """The outcome of one delivery attempt (what every channel's send function returns)."""

    ok: bool
    status_code: int | None = None  # HTTP status (webhooks) or SMTP reply code (email)
    error: str | None = None
    permanent: bool = False  # True: retrying cannot help (e.g. the endpoint was deleted)


def enqueue(
    channel,
    event_type,
    event_id,
    recipient,
    payload,
    *,
    order_id=None,
    order_event_id=None,
    issue_id=None,
    webhook_id=None,
):
    """Queue one notification (inside the caller's transaction) and return its id."""
    raise NotImplementedError


def on_order_event(order_id, order_event_id, type_, status):
    """Queue the notifications of one order event (inside the event's transaction)."""


def on_issue_answered(issue_id):
    """Queue the notifications of an admin's answer to an issue (inside its transaction)."""


def list_notifications(page, status=None, channel=None, order_id=None, webhook_id=None):
    raise NotImplementedError


def get_notification(notification_id, attempts=False):
    raise NotImplementedError


def retry(notification_id):
    raise NotImplementedError


def get_preferences(customer_id):
    raise NotImplementedError


def set_preferences(customer_id, email=None, sms=None):
    raise NotImplementedError
