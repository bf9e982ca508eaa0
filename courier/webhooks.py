"""Webhook endpoints: registration, signed deliveries (HMAC-SHA256), and disabling after failures.

Every delivery is a JSON POST signed in `X-Courier-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256(secret, "<t>.<body>"). Receivers check it with `verify()` (docs/webhooks.md shows how).
"""

import hashlib
import hmac
import http.client
import ipaddress
import logging
import secrets
import socket
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import current_app

from . import pagination
from .attempts import Result
from .db import execute, query, require_transaction, transaction
from .errors import ApiError, bad_request, conflict, not_found
from .vocabulary import EVENT_TYPES

log = logging.getLogger(__name__)
clock = time.time  # the signing time of deliveries (a test sets a clock of its own)

USER_AGENT = "CourierTracking-Webhooks/1.0"
SECRET_PREFIX = "whsec_"
TEST_EVENT = "webhook.test"
RECENT_DELIVERIES = 20
MAX_RESPONSE_BYTES = 64 * 1024  # read (and drop) at most this much of a receiver's answer
WEBHOOK_COLUMNS = (
    "webhook_id, url, events, description, consecutive_failures, disabled_at, last_success_at,"
    " last_failure_at, created_at, updated_at"
)


# --------------------------------------------------------------------------------------------
# Signing (both sides)
# --------------------------------------------------------------------------------------------


def _digest(secret, timestamp, body):
    message = f"{int(timestamp)}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret, timestamp, body_bytes):
    """The X-Courier-Signature header value: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>"."""
    return f"t={int(timestamp)},v1={_digest(secret, timestamp, body_bytes)}"


def verify(secret, header, body_bytes, tolerance=300, now=None):
    """Whether a signature header is valid for this body and no more than `tolerance` seconds old."""
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body_bytes)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


# --------------------------------------------------------------------------------------------
# URLs and the addresses they may reach
# --------------------------------------------------------------------------------------------


def _url_parts(url):
    """(scheme, host, port, path with query) of an http(s) URL, or a 400 naming what is wrong."""
    problem = None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port, problem = None, None, "must be an http(s) URL"
    if parts is not None:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "must be an http(s) URL"
        elif parts.username is not None or parts.password is not None:
            problem = "must not contain a user name or password (the signature authenticates us)"
    if problem:
        raise bad_request(f"url {problem}", "invalid_fields", {"url": problem})
    port = port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, target


# IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64 (well-known and local-use) and the deprecated
# IPv4-compatible form. IPv4-mapped, 6to4 and Teredo are read by the ipaddress module itself.
_IPV4_TAIL_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)


class RefusedAddress(ValueError):
    """A URL whose host is (or embeds) an address webhooks may not reach."""


def _embedded_ipv4(ip):
    """Every IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in prefix for prefix in _IPV4_TAIL_PREFIXES):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def _blocked(address):
    """Whether an IP address is loopback, private, link-local or otherwise not on the public internet,
    or an IPv6 address that embeds such an IPv4 address (e.g. http://[64:ff9b::7f00:1]/ reaches 127.0.0.1
    through NAT64, http://[2002:7f00:1::]/ through 6to4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        return any(not v4.is_global or v4.is_multicast for v4 in _embedded_ipv4(ip))
    return False


def allow_private():
    """WEBHOOK_ALLOW_PRIVATE when set; unset, private addresses are allowed in debug and tests only."""
    value = current_app.config.get("WEBHOOK_ALLOW_PRIVATE")
    if value is None:
        return bool(current_app.debug or current_app.testing)
    return bool(value)


def _public_addresses(host, port):
    """The host's addresses, all of them public; raises ValueError (with the reason) otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise ValueError(f"cannot resolve {host}: {err}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise ValueError(f"cannot resolve {host}")
    blocked = [a for a in addresses if _blocked(a)]
    if blocked:
        raise RefusedAddress(f"{host} resolves to a private, loopback or link-local address ({blocked[0]})")
    return addresses


def check_url(url):
    """Validate a webhook URL; unless WEBHOOK_ALLOW_PRIVATE, its host must resolve to public addresses only."""
    _, host, port, _ = _url_parts(url)
    if allow_private():
        return
    try:
        _public_addresses(host, port)
    except ValueError as err:
        problem = f"is not allowed: {err}"
        raise bad_request(f"url {problem}", "url_not_allowed", {"url": problem}) from None


# --------------------------------------------------------------------------------------------
# Registration (admin routes)
# --------------------------------------------------------------------------------------------


def _webhook_json(row):
    return {
        "webhook_id": row["webhook_id"],
        "url": row["url"],
        "events": row["events"].split(",") if row["events"] else [],
        "description": row["description"],
        "enabled": row["disabled_at"] is None,
        "consecutive_failures": row["consecutive_failures"],
        "disabled_at": row["disabled_at"],
        "last_success_at": row["last_success_at"],
        "last_failure_at": row["last_failure_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _live_row(webhook_id, lock=False):
    """A webhook that is not deleted, or a 404."""
    row = query(
        f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = %s AND deleted_at IS NULL"
        + (" FOR UPDATE" if lock else ""),
        (webhook_id,),
        one=True,
    )
    if row is None:
        raise not_found("Webhook")
    return row


def create(admin, url, events, description=None):
    """Register an endpoint; the answer is the only place its secret is ever shown."""
    check_url(url)
    wanted = set(events)
    stored = ",".join(e for e in EVENT_TYPES if e in wanted)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction():
        webhook_id, _ = execute(
            "INSERT INTO webhooks (url, events, description, secret, created_by) VALUES (%s, %s, %s, %s, %s)",
            (url, stored, description, secret, admin.id),
        )
    log.info("webhook %s registered by admin %s: %s", webhook_id, admin.id, url)
    return {**_webhook_json(_live_row(webhook_id)), "secret": secret}


def list_webhooks(page):
    """One page of the endpoints that are not deleted, by webhook id."""
    after_sql, after_args = pagination.keyset(("webhook_id",), False, page.after)
    rows = query(
        f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL AND {after_sql}"
        " ORDER BY webhook_id LIMIT %s",
        (*after_args, page.limit + 1),
    )
    rows, next_cursor = pagination.finish(rows, page, lambda row: [row["webhook_id"]])
    return [_webhook_json(row) for row in rows], next_cursor


def _deliveries(webhook_id):
    """The endpoint's latest notifications, newest first, each with its attempts' status codes."""
    rows = query(
        "SELECT notification_id, event_type, event_id, order_id, issue_id, status, attempts,"
        " last_status_code, last_error, due_at AS next_attempt_at, give_up_at, created_at, sent_at"
        " FROM notifications WHERE webhook_id = %s ORDER BY notification_id DESC LIMIT %s",
        (webhook_id, RECENT_DELIVERIES),
    )
    if not rows:
        return []
    ids = [row["notification_id"] for row in rows]
    attempts = query(
        "SELECT notification_id, attempt, ok, status_code, error, duration_ms, created_at"
        f" FROM notification_attempts WHERE notification_id IN ({', '.join(['%s'] * len(ids))})"
        " ORDER BY attempt_id",
        ids,
    )
    by_id = {notification_id: [] for notification_id in ids}
    for attempt in attempts:
        notification_id = attempt.pop("notification_id")
        attempt["ok"] = bool(attempt["ok"])
        by_id[notification_id].append(attempt)
    for row in rows:
        if row["status"] != "pending":
            row["next_attempt_at"] = None
        row["attempts_log"] = by_id[row["notification_id"]]
    return rows


def get_webhook(webhook_id, deliveries=False):
    webhook = _webhook_json(_live_row(webhook_id))
    if deliveries:
        webhook["deliveries"] = _deliveries(webhook_id)
    return webhook


def delete(webhook_id):
    """Soft-delete an endpoint; its queued deliveries fail ("endpoint deleted"), its history stays."""
    with transaction():
        _live_row(webhook_id, lock=True)
        execute("UPDATE webhooks SET deleted_at = UTC_TIMESTAMP(6) WHERE webhook_id = %s", (webhook_id,))
        _, dropped = execute(
            "UPDATE notifications SET status = 'failed', last_error = 'endpoint deleted'"
            " WHERE webhook_id = %s AND status = 'pending'",
            (webhook_id,),
        )
    log.info("webhook %s deleted (%s queued deliveries dropped)", webhook_id, dropped)


def enable(webhook_id):
    """Re-enable an endpoint (also one that is not disabled) and reset its failure count."""
    with transaction():
        _live_row(webhook_id, lock=True)
        execute(
            "UPDATE webhooks SET disabled_at = NULL, consecutive_failures = 0 WHERE webhook_id = %s",
            (webhook_id,),
        )
    log.info("webhook %s enabled", webhook_id)
    return get_webhook(webhook_id)


def _now_iso():
    return _iso(datetime.now(UTC).replace(tzinfo=None))


def _iso(value):
    """A naive UTC datetime as the API writes it (ISO 8601, milliseconds, 'Z'); other values unchanged."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    return value


def test_event(webhook_id):
    """(url, event_id, payload) of a webhook.test event to this endpoint, whose row it locks (409 while it is
    disabled); notifications.queue_webhook_test queues it."""
    require_transaction()
    row = _live_row(webhook_id, lock=True)
    if row["disabled_at"] is not None:
        raise conflict("Webhook is disabled after repeated failures; enable it first", "webhook_disabled")
    event_id = uuid.uuid4().hex
    payload = {
        "event_id": event_id,
        "type": TEST_EVENT,
        "timestamp": _now_iso(),
        "webhook": {"webhook_id": webhook_id},
        "message": "A test event from Courier Tracking: your endpoint receives and verifies webhooks.",
    }
    return row["url"], event_id, payload


# --------------------------------------------------------------------------------------------
# What the outbox and the worker call (courier/notifications.py, courier/worker.py)
# --------------------------------------------------------------------------------------------


def requested_events(events, event_types):
    """The event types of a registration, sent as `events` or under its other name `event_types`."""
    if events is not None and event_types is not None:
        problem = "send events or event_types, not both"
        raise bad_request(problem, "invalid_fields", {"events": problem, "event_types": problem})
    if events is None and event_types is None:
        raise bad_request("Missing required fields", "missing_fields", {"events": "required"})
    return events if events is not None else event_types


def subscribers(event_type):
    """The endpoints (not deleted, not disabled) subscribed to an event type: [{webhook_id, url}]."""
    return query(
        "SELECT webhook_id, url FROM webhooks WHERE deleted_at IS NULL AND disabled_at IS NULL"
        " AND FIND_IN_SET(%s, events) > 0 ORDER BY webhook_id",
        (event_type,),
    )


def order_payload(event_type, event_id, order):
    """The body of an order event: the order's public fields only (no names, addresses, phones, coordinates).

    `order` is an orders row; an `event_at` key (the event's time) and a `reason` key (a failed attempt's
    reason code) are used when present.
    """
    tracking_number = order["tracking_number"]
    public = {
        "tracking_number": tracking_number,
        "status": order["status"],
        "location": order.get("location"),
        "created_at": _iso(order.get("created_at")),
        "updated_at": _iso(order.get("updated_at")),
        "tracking_url": f"{current_app.config['PUBLIC_BASE_URL']}/t/{tracking_number}",
    }
    if order.get("reason"):
        public["reason"] = order["reason"]
    return {
        "event_id": event_id,
        "type": event_type,
        "timestamp": _iso(order.get("event_at")) or _now_iso(),
        "order": public,
    }


def issue_payload(event_type, event_id, issue):
    """The body of an issue event: ids and status only (no message text, no personal data)."""
    return {
        "event_id": event_id,
        "type": event_type,
        "timestamp": _iso(issue.get("event_at") or issue.get("responded_at")) or _now_iso(),
        "issue": {
            "issue_id": issue["issue_id"],
            "status": issue["status"],
            "tracking_number": issue.get("tracking_number"),
        },
    }


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand (so DNS cannot change between check and use)."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; the certificate is still verified against the URL's host name."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _connection(url):
    """(connection, request target) for a URL; refuses private addresses unless WEBHOOK_ALLOW_PRIVATE."""
    scheme, host, port, target = _url_parts(url)
    timeout = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    if allow_private():
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        return kind(host, port, timeout=timeout), target
    address = _public_addresses(host, port)[0]
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    return kind(host, port, address, timeout), target


def _post(url, body, headers):
    """POST once, following no redirects; a Result with the HTTP status, or the error.

    WEBHOOK_TIMEOUT_SECONDS bounds the whole request (connect, send, and reading the answer), not each
    read: a receiver that drips its answer a byte at a time is cut off at the deadline.
    """
    try:
        conn, target = _connection(url)
    except RefusedAddress as err:  # refused by policy: retrying cannot help
        return Result(ok=False, permanent=True, error=f"refused: {err}"[:1000])
    except ValueError as err:
        return Result(ok=False, error=str(err)[:1000])
    except ApiError as err:  # a stored URL that is no longer valid
        return Result(ok=False, permanent=True, error=f"invalid url: {err}"[:1000])
    timeout = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    expired = threading.Event()
    opened = []  # the connection's socket (http.client lets go of it once the answer says Connection: close)

    def cut_off():
        expired.set()
        for sock in opened:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    deadline = threading.Timer(timeout, cut_off)
    deadline.daemon = True
    deadline.start()
    try:
        conn.connect()
        opened.append(conn.sock)
        if expired.is_set():
            cut_off()
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
    except (OSError, http.client.HTTPException) as err:
        if expired.is_set() or isinstance(err, TimeoutError):
            message = f"timed out (whole request over {timeout:g} s)"
        else:
            message = f"{type(err).__name__}: {err}"
        return Result(ok=False, error=message[:1000])
    finally:
        deadline.cancel()
        conn.close()
    if expired.is_set():
        return Result(ok=False, error=f"timed out (whole request over {timeout:g} s)")
    if 200 <= response.status < 300:
        return Result(ok=True, status_code=response.status)
    error = f"HTTP {response.status} {response.reason}".strip()
    return Result(ok=False, status_code=response.status, error=error[:1000])


def deliver(row):
    """POST one queued webhook notification, signed with the endpoint's current secret."""
    webhook = query(
        "SELECT url, secret, disabled_at, deleted_at FROM webhooks WHERE webhook_id = %s",
        (row["webhook_id"],),
        one=True,
    )
    if webhook is None or webhook["deleted_at"] is not None:
        return Result(ok=False, permanent=True, error="endpoint deleted")
    if webhook["disabled_at"] is not None:
        return Result(ok=False, permanent=True, error="endpoint disabled")
    body = row["payload"].encode() if isinstance(row["payload"], str) else bytes(row["payload"])
    timestamp = int(clock())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Courier-Event": row["event_type"],
        "X-Courier-Event-Id": row["event_id"],
        "X-Courier-Delivery": str(row["notification_id"]),
        "X-Courier-Timestamp": str(timestamp),
        "X-Courier-Signature": sign(webhook["secret"], timestamp, body),
    }
    return _post(webhook["url"], body, headers)


def record_result(webhook_id, ok):
    """Count a delivery's outcome on its endpoint; WEBHOOK_DISABLE_AFTER failures in a row disable it.

    Refusals to send to a disabled or deleted endpoint are not counted: they never reached the receiver.
    """
    if ok:
        execute(
            "UPDATE webhooks SET consecutive_failures = 0, last_success_at = UTC_TIMESTAMP(6)"
            " WHERE webhook_id = %s",
            (webhook_id,),
        )
        return
    execute(
        "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1,"
        " last_failure_at = UTC_TIMESTAMP(6)"
        " WHERE webhook_id = %s AND disabled_at IS NULL AND deleted_at IS NULL",
        (webhook_id,),
    )
    limit = current_app.config["WEBHOOK_DISABLE_AFTER"]
    _, disabled = execute(
        "UPDATE webhooks SET disabled_at = UTC_TIMESTAMP(6) WHERE webhook_id = %s AND disabled_at IS NULL"
        " AND deleted_at IS NULL AND consecutive_failures >= %s",
        (webhook_id, limit),
    )
    if disabled:
        log.warning("webhook %s disabled after %s consecutive failed deliveries", webhook_id, limit)
