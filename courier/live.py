"""Live order updates as Server-Sent Events, for any number of API processes.

No state is shared in memory: every stream polls the order_events table (index (order_id, event_id)) every
SSE_POLL_SECONDS, each poll on a short-lived pooled connection, and sends what is new:

    id: <event_id>
    event: <type>            (created, status, assignment, location)
    data: <event JSON>

A client resumes with the Last-Event-ID header (EventSource sends it when it reconnects) or ?last_event_id=.
A comment line is sent every SSE_HEARTBEAT_SECONDS so proxies keep the connection open. The stream ends after
the event that makes the order final, and after SSE_MAX_SECONDS at most (the client then reconnects).
"""

import logging
import time

import pymysql
from flask import Response, current_app, request, stream_with_context
from flask_jwt_extended import get_jwt

from . import db
from .errors import bad_request
from .tracking import TIMELINE_COLUMNS, live_event_json
from .vocabulary import FINAL

log = logging.getLogger(__name__)

RETRY_MS = 3000  # how long EventSource waits before reconnecting
BATCH = 500  # events sent per poll at most; a longer backlog follows at once on the next poll


def last_event_id():
    """The id of the last event the client has (Last-Event-ID header or ?last_event_id=), or 0."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if raw is None or not raw.strip():
        return 0
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 19:
        raise bad_request(
            "Last-Event-ID must be an event id (a non-negative integer)",
            "invalid_last_event_id",
            {"Last-Event-ID": "must be a non-negative integer"},
        )
    return int(raw)


def token_seconds_left():
    """Seconds until the caller's access token expires: an authenticated stream ends then, so the client
    reconnects with a fresh token and a revoked one stops working."""
    return max(0.0, get_jwt()["exp"] - time.time())


def _poll(pool, order_id, after):
    """The order's current status and its events after `after`, on a connection held only for this poll.

    The status is read first: a final status and its event commit together, so the events read next
    always include the one that made the order final.
    """
    conn = pool.connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM orders WHERE order_id = %s", (order_id,))
            order = cur.fetchone()
            cur.execute(
                f"SELECT {TIMELINE_COLUMNS} FROM order_events WHERE order_id = %s AND event_id > %s"
                " ORDER BY event_id LIMIT %s",
                (order_id, after, BATCH),
            )
            rows = list(cur.fetchall())
    finally:
        conn.close()
    return (order["status"] if order else None), rows


def _message(row, public, status, dumps):
    data = dumps(live_event_json(row, public, status))
    return f"id: {row['event_id']}\nevent: {row['type']}\ndata: {data}\n\n"


def _events(order_id, public, after, settings):
    """The stream's text, chunk by chunk."""
    pool, dumps = current_app.extensions["db_pool"], current_app.json.dumps
    poll_every, beat_every, lifetime = settings
    started = last_sent = time.monotonic()
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        try:
            status, rows = _poll(pool, order_id, after)
        except pymysql.err.Error as err:
            # Keep the stream (and its heartbeats) alive: the next poll may find the database back.
            log.warning("live stream poll of order %s failed: %s", order_id, err)
            status, rows = None, []
        chunk = []
        final = False
        for row in rows:
            chunk.append(_message(row, public, status, dumps))
            after = row["event_id"]
            if row["status"] in FINAL:
                final = True
                break
        if chunk:
            yield "".join(chunk)
            last_sent = time.monotonic()
        if final or (status in FINAL and len(rows) < BATCH):
            return
        if len(rows) == BATCH:
            continue
        now = time.monotonic()
        if now - started >= lifetime:
            yield ": stream lifetime reached, reconnect with Last-Event-ID\n\n"
            return
        if now - last_sent >= beat_every:
            yield ": heartbeat\n\n"
            last_sent = now
        wake = min(now + poll_every, last_sent + beat_every, started + lifetime)
        time.sleep(max(0.0, wake - time.monotonic()))


def stream(order, public, max_seconds=None):
    """A text/event-stream response following `order` (already authorised by the caller).

    An order that is final with nothing newer than Last-Event-ID answers 204, which tells EventSource to
    stop reconnecting. The request's own database connection goes back to the pool before streaming.
    """
    after = last_event_id()
    config = current_app.config
    if order["status"] in FINAL and after:
        newer = db.query(
            "SELECT 1 AS n FROM order_events WHERE order_id = %s AND event_id > %s LIMIT 1",
            (order["order_id"], after),
            one=True,
        )
        if newer is None:
            db.close_db()
            return Response(status=204)
    db.close_db()
    lifetime = float(config["SSE_MAX_SECONDS"])
    if max_seconds is not None:
        lifetime = max(0.0, min(lifetime, max_seconds))
    settings = (float(config["SSE_POLL_SECONDS"]), float(config["SSE_HEARTBEAT_SECONDS"]), lifetime)
    body = stream_with_context(_events(order["order_id"], public, after, settings))
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
