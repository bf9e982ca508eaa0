"""The notification outbox: queue an event's emails, SMS and webhook deliveries in the event's own transaction.

STUB: to be implemented (issue 7, items 1-4).
"""


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
