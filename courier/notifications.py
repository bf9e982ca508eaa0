"""The notification outbox: queue an event's emails, SMS and webhook deliveries in the event's own transaction.

Nothing is sent here: rows go into `notifications` (status pending, due now) in the same transaction as the
event behind them, so both commit or neither does; `flask --app app1 worker` (courier/worker.py) delivers them.
"""

import json
import uuid

from flask import current_app

from . import mailer, pagination, sms, webhooks
from .db import execute, query, transaction
from .errors import bad_request, conflict, not_found
from .middleware import ApiJSONProvider
from .vocabulary import CUSTOMER_EVENTS, STATUS_EVENTS

ORDER_COLUMNS = (
    "o.order_id, o.tracking_number, o.status, o.customer_id, o.assigned_to, o.pickup_address,"
    " o.delivery_address, o.recipient_name, o.location, o.latitude, o.longitude, o.created_at, o.updated_at,"
    " o.closed_at, o.delivery_locked_at"
)
ORDER_KEYS = tuple(column.strip().removeprefix("o.") for column in ORDER_COLUMNS.split(","))
PUBLIC_COLUMNS = (
    "notification_id, channel, event_type, event_id, order_id, issue_id, webhook_id, recipient, status,"
    " attempts, max_attempts, due_at, give_up_at, last_status_code, last_error, created_at, updated_at, sent_at"
)


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
    config = current_app.config
    webhook = channel == "webhook"
    max_attempts = None if webhook else config["NOTIFY_MAX_ATTEMPTS"]
    give_up_us = int(config["WEBHOOK_RETRY_HOURS"] * 3600 * 1_000_000) if webhook else None
    notification_id, _ = execute(
        "INSERT INTO notifications (channel, event_type, event_id, order_id, order_event_id, issue_id,"
        " webhook_id, recipient, payload, status, attempts, max_attempts, give_up_at, due_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', 0, %s,"
        " DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND), UTC_TIMESTAMP(6))",
        (
            channel,
            event_type,
            event_id,
            order_id,
            order_event_id,
            issue_id,
            webhook_id,
            recipient,
            json.dumps(payload, default=ApiJSONProvider.default, ensure_ascii=False),
            max_attempts,
            give_up_us,
        ),
    )
    return notification_id


def event_type_of(type_, status):
    """The notification event type of an order event, or None for events nobody is told about."""
    if type_ == "created":
        return "order.created"
    if type_ == "assignment":
        return "order.assigned"
    if type_ == "locked":
        return "order.delivery_locked"
    if type_ == "arrived":
        return "order.arrived"
    if type_ == "arriving_soon":
        return "order.arriving_soon"
    if type_ == "status":
        return STATUS_EVENTS.get(status)
    return None


def _wants_customer(event_type, config):
    return event_type in CUSTOMER_EVENTS and (bool(config["SMTP_HOST"]) or sms.enabled(config))


def anyone_told(event_type):
    """Whether an event of this type queues anything at all (a webhook subscribed, or email/SMS configured)."""
    return bool(webhooks.subscribers(event_type)) or _wants_customer(event_type, current_app.config)


def _order_with_customer(order_id, order_event_id):
    """The order, the event and the customer's contact details and preferences, in one query."""
    return query(
        f"SELECT {ORDER_COLUMNS}, e.created_at AS event_at, e.reason, e.note,"
        " c.name AS customer_name, c.email AS customer_email, c.phone AS customer_phone,"
        " c.notify_email, c.notify_sms, c.notify_arriving_soon, c.deleted_at AS customer_deleted_at"
        " FROM orders o JOIN customers c ON c.customer_id = o.customer_id"
        " LEFT JOIN order_events e ON e.event_id = %s AND e.order_id = o.order_id"
        " WHERE o.order_id = %s",
        (order_event_id, order_id),
        one=True,
    )


def on_order_event(order_id, order_event_id, type_, status):
    """Queue the notifications of one order event (inside the event's transaction)."""
    event_type = event_type_of(type_, status)
    if event_type is None:
        return
    config = current_app.config
    subscribers = webhooks.subscribers(event_type)
    if not subscribers and not _wants_customer(event_type, config):
        return
    row = _order_with_customer(order_id, order_event_id)
    event_id = uuid.uuid4().hex
    keys = {"order_id": order_id, "order_event_id": order_event_id}
    opted_in = event_type != "order.arriving_soon" or row["notify_arriving_soon"]  # an opt-in message
    if event_type in CUSTOMER_EVENTS and row["customer_deleted_at"] is None and opted_in:
        _queue_customer(event_type, event_id, row, config, keys)
    if subscribers:
        order = {key: row[key] for key in (*ORDER_KEYS, "event_at", "reason", "note")}
        payload = webhooks.order_payload(event_type, event_id, order)
        for hook in subscribers:
            enqueue(
                "webhook", event_type, event_id, hook["url"], payload, webhook_id=hook["webhook_id"], **keys
            )


def _queue_customer(event_type, event_id, row, config, keys):
    """The customer's email and SMS about an order event, as their preferences and the config allow."""
    if config["SMTP_HOST"] and row["notify_email"]:
        to = row["customer_email"]
        payload = mailer.order_email(event_type, event_id, row, to, row["customer_name"], config)
        enqueue("email", event_type, event_id, to, payload, **keys)
    if row["customer_phone"] and row["notify_sms"] and sms.enabled(config):
        text = sms.order_text(event_type, row["tracking_number"], row["reason"], config)
        to = row["customer_phone"]
        enqueue("sms", event_type, event_id, to, {"to": to, "text": text}, **keys)


def on_issue_answered(issue_id):
    """Queue the notifications of an admin's answer to an issue (inside its transaction)."""
    config = current_app.config
    event_type, event_id = "issue.answered", uuid.uuid4().hex
    issue = query(
        "SELECT i.issue_id, i.user_type, i.user_id, i.order_id, i.message, i.status, i.response,"
        " i.responded_at, i.created_at, i.updated_at, o.tracking_number,"
        " COALESCE(c.email, d.email) AS email, COALESCE(c.name, d.name) AS name,"
        " COALESCE(c.notify_email, 1) AS notify_email, COALESCE(c.deleted_at, d.deleted_at) AS deleted_at"
        " FROM issues i"
        " LEFT JOIN customers c ON i.user_type = 'customer' AND c.customer_id = i.user_id"
        " LEFT JOIN delivery_persons d ON i.user_type = 'delivery_person' AND d.delivery_person_id = i.user_id"
        " LEFT JOIN orders o ON o.order_id = i.order_id"
        " WHERE i.issue_id = %s",
        (issue_id,),
        one=True,
    )
    keys = {"issue_id": issue_id, "order_id": issue["order_id"]}
    if config["SMTP_HOST"] and issue["email"] and issue["deleted_at"] is None and issue["notify_email"]:
        payload = mailer.issue_email(event_id, issue, issue["email"], issue["name"], config)
        enqueue("email", event_type, event_id, issue["email"], payload, **keys)
    subscribers = webhooks.subscribers(event_type)
    if subscribers:
        public = {
            key: issue[key] for key in issue if key not in ("email", "name", "notify_email", "deleted_at")
        }
        payload = webhooks.issue_payload(event_type, event_id, public)
        for hook in subscribers:
            enqueue(
                "webhook", event_type, event_id, hook["url"], payload, webhook_id=hook["webhook_id"], **keys
            )


def _public(row):
    """A notification as the admin API shows it."""
    row = dict(row)
    due_at = row.pop("due_at")
    row["next_attempt_at"] = due_at if row["status"] == "pending" else None
    return row


def list_notifications(page, status=None, channel=None, order_id=None, webhook_id=None):
    """One page of notifications, newest first, optionally filtered."""
    where, args = [], []
    for column, value in (
        ("status", status),
        ("channel", channel),
        ("order_id", order_id),
        ("webhook_id", webhook_id),
    ):
        if value is not None:
            where.append(f"{column} = %s")  # column names from the tuple above
            args.append(value)
    after_sql, after_args = pagination.keyset(("notification_id",), True, page.after)
    where.append(after_sql)
    rows = query(
        f"SELECT {PUBLIC_COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
        " ORDER BY notification_id DESC LIMIT %s",
        (*args, *after_args, page.limit + 1),
    )
    rows, next_cursor = pagination.finish(rows, page, lambda row: [row["notification_id"]])
    return [_public(row) for row in rows], next_cursor


def get_notification(notification_id, attempts=False):
    """One notification; with attempts, also its payload and every delivery attempt (404 if missing)."""
    row = query(
        f"SELECT {PUBLIC_COLUMNS}, payload FROM notifications WHERE notification_id = %s",
        (notification_id,),
        one=True,
    )
    if row is None:
        raise not_found("Notification")
    payload = row.pop("payload")
    notification = _public(row)
    if attempts:
        notification["payload"] = json.loads(payload)
        log = query(
            "SELECT attempt, ok, status_code, error, duration_ms, worker, created_at FROM notification_attempts"
            " WHERE notification_id = %s ORDER BY attempt_id",
            (notification_id,),
        )
        notification["attempts_log"] = [{**entry, "ok": bool(entry["ok"])} for entry in log]
    return notification


def retry(notification_id):
    """Queue a failed notification again, due now, with a fresh retry budget (409 unless it failed)."""
    retry_us = int(current_app.config["WEBHOOK_RETRY_HOURS"] * 3600 * 1_000_000)
    with transaction():
        row = query(
            "SELECT n.status, n.channel, n.webhook_id, w.deleted_at AS webhook_deleted_at"
            " FROM notifications n LEFT JOIN webhooks w ON w.webhook_id = n.webhook_id"
            " WHERE n.notification_id = %s FOR UPDATE",
            (notification_id,),
            one=True,
        )
        if row is None:
            raise not_found("Notification")
        if row["channel"] == "webhook" and (
            row["webhook_id"] is None or row["webhook_deleted_at"] is not None
        ):
            raise conflict(
                "The webhook endpoint of this notification was deleted; it cannot be retried",
                "webhook_deleted",
                webhook_id=row["webhook_id"],
            )
        if row["status"] != "failed":
            raise conflict(
                f"Only a failed notification can be retried; this one is {row['status']}",
                "not_failed",
                current_status=row["status"],
            )
        execute(
            "UPDATE notifications SET status = 'pending', attempts = 0, due_at = UTC_TIMESTAMP(6),"
            " claim_token = NULL, give_up_at = IF(channel = 'webhook',"
            " DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND), give_up_at)"
            " WHERE notification_id = %s",
            (retry_us, notification_id),
        )
    return get_notification(notification_id)


def get_preferences(customer_id):
    """Which notifications the customer gets: {"email": bool, "sms": bool, "arriving_soon": bool}."""
    row = query(
        "SELECT notify_email, notify_sms, notify_arriving_soon FROM customers"
        " WHERE customer_id = %s AND deleted_at IS NULL",
        (customer_id,),
        one=True,
    )
    if row is None:
        raise not_found("Customer")
    return {
        "email": bool(row["notify_email"]),
        "sms": bool(row["notify_sms"]),
        "arriving_soon": bool(row["notify_arriving_soon"]),
    }


def set_preferences(customer_id, email=None, sms=None, arriving_soon=None):
    """Switch email, SMS and the arriving-soon message on or off (None leaves it as it is); 400 when all
    are missing."""
    if email is None and sms is None and arriving_soon is None:
        raise bad_request(
            "Send email, sms, or both",
            "missing_fields",
            {"email": "required without sms", "sms": "required without email"},
        )
    execute(
        "UPDATE customers SET notify_email = COALESCE(%s, notify_email), notify_sms = COALESCE(%s, notify_sms),"
        " notify_arriving_soon = COALESCE(%s, notify_arriving_soon) WHERE customer_id = %s AND deleted_at IS NULL",
        (email, sms, arriving_soon, customer_id),
    )
    return get_preferences(customer_id)


def queue_webhook_test(webhook_id):
    """Queue a signed webhook.test event to one endpoint only (409 while it is disabled)."""
    with transaction():
        url, event_id, payload = webhooks.test_event(webhook_id)
        notification_id = enqueue(
            "webhook", webhooks.TEST_EVENT, event_id, url, payload, webhook_id=webhook_id
        )
    return get_notification(notification_id)
