"""Live order updates as Server-Sent Events, for any number of API processes.

A stream first sends the order's history after Last-Event-ID (its own read, by (order_id, event_id)),
then what its process's one reader (courier.livehub) hands over: events written through any process,
the courier's position while the order is Out for Delivery, and the end of the login session:

    id: <event_id>
    event: <type>            (created, status, assignment, location)
    data: <event JSON>

    event: position          (no id: a position is a state, not part of the timeline)
    data: {"type": "position", "position": {"latitude", "longitude", ["location",] "at"}}

A client resumes with the Last-Event-ID header (EventSource sends it when it reconnects) or ?last_event_id=.
A comment line is sent every SSE_HEARTBEAT_SECONDS so proxies keep the connection open. The stream ends after
the event that makes the order final, when the owner's login session is revoked (logout, password change,
account deletion: within SSE_POLL_SECONDS), and after SSE_MAX_SECONDS at most (the client then reconnects).
A process serves SSE_MAX_STREAMS streams at most; beyond that it answers 503 with Retry-After.
"""

import logging
import time

import pymysql
from flask import Response, current_app, request, stream_with_context
from flask_jwt_extended import get_jwt

from . import db, livehub
from .errors import bad_request, error_response
from .tracking import OUT_FOR_DELIVERY, TIMELINE_COLUMNS, live_event_json, rounded
from .vocabulary import FINAL

log = logging.getLogger(__name__)

RETRY_MS = 3000  # how long EventSource waits before reconnecting
RETRY_AFTER_SECONDS = 5  # Retry-After of the 503 beyond SSE_MAX_STREAMS
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


def _catch_up(pool, order_id, after):
    """The order's current status and its events after `after` (at most BATCH), on a connection held only
    for this read. The status is read first: a final status and its event commit together, so the events
    read next always include the one that made the order final."""
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


def _shared_message(row, public, dumps):
    """The message of an event the reader handed over: the same row goes to every stream watching its order,
    so it is encoded once per view (owner, public), not once per stream."""
    key = "_public_message" if public else "_owner_message"
    message = row.get(key)
    if message is None:
        message = row[key] = _message(row, public, row["status"], dumps)
    return message


def _position_message(row, public, dumps):
    """A courier position (no id: positions are a state, not part of the resumable timeline)."""
    if row is None or row.get("latitude") is None:
        return None
    if public:
        position = rounded(row["latitude"], row["longitude"])
    else:
        position = {
            "latitude": row["latitude"],
            "longitude": row["longitude"],
            "location": row.get("location"),
        }
    position["at"] = row["at"]
    return f"event: position\ndata: {dumps({'type': 'position', 'position': position})}\n\n"


def _events(hub, sub, courier, public, after, settings):
    """The stream's text, chunk by chunk: its history after `after`, then what the process's reader hands
    over, until the order is final, the session is revoked, or the lifetime ends."""
    pool, dumps = current_app.extensions["db_pool"], current_app.json.dumps
    beat_every, lifetime = settings
    started = last_sent = time.monotonic()
    order_id = sub.order_id
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while True:  # history, BATCH events per read
            try:
                status, rows = _catch_up(pool, order_id, after)
            except pymysql.err.Error as err:
                # The client reconnects with Last-Event-ID after RETRY_MS: nothing is lost.
                log.warning("live stream of order %s could not read its history: %s", order_id, err)
                yield ": database unavailable, reconnect with Last-Event-ID\n\n"
                return
            chunk = []
            for row in rows:
                chunk.append(_message(row, public, status, dumps))
                after = row["event_id"]
                if row["status"] in FINAL:
                    yield "".join(chunk)
                    return
            if chunk:
                yield "".join(chunk)
                last_sent = time.monotonic()
            if status in FINAL and len(rows) < BATCH:
                return
            if len(rows) < BATCH:
                break
        if status == OUT_FOR_DELIVERY and courier is not None and courier.get("position_at") is not None:
            first = _position_message({**courier, "at": courier["position_at"]}, public, dumps)
            if first:
                yield first
        last_position = courier["position_at"] if courier else None
        out_since = None
        while True:
            now = time.monotonic()
            if now - started >= lifetime:
                yield ": stream lifetime reached, reconnect with Last-Event-ID\n\n"
                return
            if now - last_sent >= beat_every:
                yield ": heartbeat\n\n"
                last_sent = now
            item = sub.get(min(last_sent + beat_every, started + lifetime) - time.monotonic())
            if item is None:
                continue
            kind, row = item
            if kind == "revoked":
                yield ": session ended, log in again\n\n"
                return
            if kind == "position":
                # Only while Out for Delivery, never a point taken before (nor older than the last sent).
                floor = max(filter(None, (last_position, out_since)), default=None)
                if status != OUT_FOR_DELIVERY or (floor is not None and row["recorded_at"] < floor):
                    continue
                last_position = row["recorded_at"]
                key = "_public_message" if public else "_owner_message"
                message = row.get(key)
                if message is None:  # one encoding per point and view, shared by the streams
                    message = row[key] = _position_message({**row, "at": row["recorded_at"]}, public, dumps)
                if message:
                    yield message
                    last_sent = time.monotonic()
                continue
            if row["event_id"] <= after:
                continue
            if row["status"] == OUT_FOR_DELIVERY and status != OUT_FOR_DELIVERY:
                out_since = row["created_at"]
            status = row["status"]
            after = row["event_id"]
            yield _shared_message(row, public, dumps)
            last_sent = time.monotonic()
            if status in FINAL:
                return
    finally:
        hub.unsubscribe(sub)


def unavailable(seconds):
    """503 with Retry-After: this process serves SSE_MAX_STREAMS streams already."""
    response = error_response(
        503,
        "Too many live streams on this server: retry shortly",
        "too_many_streams",
        retry_after=seconds,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def stream(order, public, courier=None, max_seconds=None, session_id=None):
    """A text/event-stream response following `order` (already authorised by the caller).

    An order that is final with nothing newer than Last-Event-ID answers 204, which tells EventSource to
    stop reconnecting. Beyond SSE_MAX_STREAMS open streams in this process: 503 with Retry-After. The
    request's own database connection goes back to the pool before streaming.
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
    hub = livehub.hub(current_app)
    if not hub.admit():
        return unavailable(RETRY_AFTER_SECONDS)
    slot = _Slot(hub)
    try:
        sub = hub.subscribe(order["order_id"], order.get("assigned_to"), session_id)
    except BaseException:
        slot.release()
        raise
    lifetime = float(config["SSE_MAX_SECONDS"])
    if max_seconds is not None:
        lifetime = max(0.0, min(lifetime, max_seconds))
    settings = (float(config["SSE_HEARTBEAT_SECONDS"]), lifetime)
    body = stream_with_context(_released(slot, _events(hub, sub, courier, public, after, settings)))
    response = Response(body, mimetype="text/event-stream")
    response.call_on_close(slot.release)
    response.call_on_close(lambda: hub.unsubscribe(sub))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


class _Slot:
    """One admitted stream, given back once whichever way the stream ends."""

    def __init__(self, hub):
        self.hub, self.held = hub, True

    def release(self):
        if self.held:
            self.held = False
            self.hub.release()


def _released(slot, chunks):
    try:
        yield from chunks
    finally:
        slot.release()


def init_app(app):
    livehub.hub(app)
