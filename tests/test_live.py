"""Live updates as Server-Sent Events: history, live changes, heartbeats, resuming, and two real processes."""

import http.client
import json
import queue
import threading
import time

import pytest
from conftest import _config, connect
from live_servers import call, start_servers

from app1 import create_app
from courier import livehub


@pytest.fixture
def app(app):
    """The suite's app, polling fast and with streams that cannot outlive a broken test for long."""
    app.config.update(SSE_POLL_SECONDS=0.05, SSE_HEARTBEAT_SECONDS=15, SSE_MAX_SECONDS=20)
    return app


def parse(text):
    """Event-stream text as a list of blocks: {"id", "event", "data", "retry"} or {"comment"}."""
    blocks = []
    for block in text.split("\n\n"):
        if not block:
            continue
        fields = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                fields["comment"] = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        blocks.append(fields)
    return blocks


def events_of(blocks):
    return [b for b in blocks if "data" in b]


class Reader:
    """Reads a streamed test-client response chunk by chunk."""

    def __init__(self, response):
        self.response = response
        self.chunks = iter(response.response)
        self.text = ""
        self.ended = False

    def until(self, done, limit=2000):
        """Read until done(blocks) is true or the stream ends; return the blocks so far."""
        for _ in range(limit):
            end = self.text.rfind("\n\n")
            blocks = parse(self.text[: end + 2] if end >= 0 else "")
            if done(blocks):
                return blocks
            try:
                chunk = next(self.chunks)
            except StopIteration:
                self.ended = True
                return parse(self.text)
            self.text += chunk.decode() if isinstance(chunk, bytes) else chunk
        raise AssertionError("stream never got there")

    def rest(self):
        return self.until(lambda blocks: False)

    def close(self):
        self.response.close()


def open_stream(client, url, **kwargs):
    response = client.get(url, buffered=False, **kwargs)
    return response, Reader(response)


def stored_events(sql, order_id):
    return sql(
        "SELECT event_id, type, status FROM order_events WHERE order_id = %s ORDER BY event_id", (order_id,)
    )


def status_of(blocks):
    return [b["data"]["status"] for b in events_of(blocks)]


def test_finished_order_sends_history_then_ends(client, world, orders, sql):
    delivered = orders.delivered(world.alice, world.admin, world.dave)
    oid = delivered["order_id"]
    response = client.get(f"/customer/track-order/{oid}/events", headers=world.alice.headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert "no-cache" in response.headers["Cache-Control"] or "no-store" in response.headers["Cache-Control"]
    blocks = parse(response.get_data(as_text=True))
    assert blocks[0] == {"retry": "3000"}
    stored = stored_events(sql, oid)
    events = events_of(blocks)
    assert [(int(b["id"]), b["event"], b["data"]["status"]) for b in events] == [
        (r["event_id"], r["type"], r["status"]) for r in stored
    ]
    # Full detail for the owner, like GET /customer/track-order: event ids, notes, actor names.
    assert events[1]["data"]["actor"] == {"role": "admin", "name": world.admin.name}
    assert events[1]["data"]["note"] == f"Assigned to {world.dave.name}"
    assert events[-1]["data"]["status"] == "Delivered"
    assert not any("comment" in b for b in blocks)

    public = client.get(f"/track/{delivered['tracking_number']}/events")
    assert public.status_code == 200 and public.headers["Cache-Control"] == "no-cache"
    text = public.get_data(as_text=True)
    public_events = events_of(parse(text))
    assert [int(b["id"]) for b in public_events] == [r["event_id"] for r in stored]
    for block in public_events:
        assert set(block["data"]) == {"type", "status", "at", "location", "reason", "proof", "actor"}
        assert set(block["data"]["actor"]) == {"role"}
    for private in (world.admin.name, world.dave.name, world.alice.name, "Rita Recipient", "Delivery Road"):
        assert private not in text


def test_live_stream_follows_changes_made_while_reading(app, client, world, orders):
    order = orders.place(world.alice)
    oid = order["order_id"]
    orders.assign(world.admin, oid, world.dave)
    response, reader = open_stream(client, f"/customer/track-order/{oid}/events", headers=world.alice.headers)
    assert response.status_code == 200
    assert status_of(reader.until(lambda b: len(events_of(b)) == 2)) == ["Pending", "Assigned"]
    public = {}
    opened = threading.Event()

    def watch_public():
        # A stream keeps its request context: open and read it in the thread that follows it.
        public_response, public_reader = open_stream(
            app.test_client(), f"/track/{order['tracking_number']}/events"
        )
        public["status"] = public_response.status_code
        public["blocks"] = public_reader.until(lambda b: len(events_of(b)) == 2)
        opened.set()
        try:
            public["blocks"] = public_reader.rest()
            public["ended"], public["text"] = public_reader.ended, public_reader.text
        finally:
            public_reader.close()

    watcher = threading.Thread(target=watch_public)
    watcher.start()
    assert opened.wait(10) and public["status"] == 200

    def courier_works():
        other = app.test_client()
        steps = [
            ("status", {"order_id": oid, "status": "Picked Up"}),
            ("location", {"order_id": oid, "latitude": 48.853209, "longitude": 2.348600}),
            ("status", {"order_id": oid, "status": "Out for Delivery"}),
            ("location", {"order_id": oid, "latitude": 48.853409, "longitude": 2.348800, "location": "Quai"}),
            ("status", {"order_id": oid, "status": "Delivered", "code": orders.code(oid)}),
        ]
        for kind, body in steps:
            time.sleep(0.3)
            url = "/delivery/update-status" if kind == "status" else "/delivery/update-location"
            assert other.patch(url, json=body, headers=world.dave.headers).status_code == 200

    worker = threading.Thread(target=courier_works)
    worker.start()
    try:
        blocks = reader.rest()
    finally:
        worker.join(10)
        watcher.join(10)
        reader.close()
    public_blocks = public["blocks"]
    # The streams end right after the final event (not by their lifetime cap).
    assert reader.ended and public["ended"]
    assert blocks[-1]["data"]["status"] == "Delivered"
    assert public["blocks"][-1]["data"]["status"] == "Delivered"
    # A coordinates-only ping is no timeline event; a typed location is. Positions come as `position`
    # events (no id), only while Out for Delivery: exact for the owner, rounded for the public.
    events = [b for b in events_of(blocks) if b["event"] != "position"]
    assert [(b["event"], b["data"]["status"]) for b in events] == [
        ("created", "Pending"),
        ("assignment", "Assigned"),
        ("status", "Picked Up"),
        ("status", "Out for Delivery"),
        ("location", "Out for Delivery"),
        ("status", "Delivered"),
    ]
    ids = [int(b["id"]) for b in events]
    assert ids == sorted(set(ids))
    assert events[4]["data"]["position"] == {"latitude": 48.853409, "longitude": 2.3488}
    assert events[4]["data"]["location"] == "Quai"
    positions = [b for b in events_of(blocks) if b["event"] == "position"]
    assert positions and all("id" not in b for b in positions)
    assert positions[-1]["data"]["position"]["latitude"] == 48.853409
    assert positions[-1]["data"]["position"]["location"] == "Quai"
    assert all(b["data"]["position"]["latitude"] != 48.853209 for b in positions)  # taken before OFD
    public_all = events_of(public_blocks)
    public_events = [b for b in public_all if b["event"] != "position"]
    assert [int(b["id"]) for b in public_events] == ids
    assert public_events[4]["data"]["position"] == {"latitude": 48.853, "longitude": 2.349}
    public_positions = [b["data"]["position"] for b in public_all if b["event"] == "position"]
    assert public_positions and set(public_positions[-1]) == {"latitude", "longitude", "at"}
    assert public_positions[-1]["latitude"] == 48.853
    assert "48.853409" not in public["text"] and "48.853209" not in public["text"]
    assert world.dave.name not in public["text"] and "Quai" not in str(public_positions)


def test_heartbeat_comments_while_nothing_happens(app, client, world, orders):
    app.config.update(SSE_HEARTBEAT_SECONDS=0.1)
    order = orders.place(world.alice)
    response, reader = open_stream(client, f"/track/{order['tracking_number']}/events")
    started = time.monotonic()
    try:
        blocks = reader.until(lambda b: sum("comment" in x for x in b) >= 3)
    finally:
        reader.close()
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert status_of(blocks) == ["Pending"]
    assert [b["comment"] for b in blocks if "comment" in b][:3] == ["heartbeat"] * 3
    assert 0.25 <= elapsed < 5


def test_stream_lifetime_is_capped(app, client, world, orders):
    app.config.update(SSE_MAX_SECONDS=0.3)
    order = orders.place(world.alice)
    started = time.monotonic()
    response, reader = open_stream(
        client, f"/customer/track-order/{order['order_id']}/events", headers=world.alice.headers
    )
    blocks = reader.rest()
    assert reader.ended and 0.25 <= time.monotonic() - started < 5
    assert status_of(blocks) == ["Pending"]
    assert "reconnect" in blocks[-1]["comment"]


def test_last_event_id_resumes_after_that_event(client, world, orders, sql):
    delivered = orders.delivered(world.alice, world.admin, world.dave)
    oid, number = delivered["order_id"], delivered["tracking_number"]
    stored = stored_events(sql, oid)
    second = stored[1]["event_id"]
    url = f"/customer/track-order/{oid}/events"
    resumed = client.get(url, headers={**world.alice.headers, "Last-Event-ID": str(second)})
    assert resumed.status_code == 200
    ids = [int(b["id"]) for b in events_of(parse(resumed.get_data(as_text=True)))]
    assert ids == [r["event_id"] for r in stored[2:]]
    by_query = client.get(f"/track/{number}/events?last_event_id={stored[3]['event_id']}")
    assert [int(b["id"]) for b in events_of(parse(by_query.get_data(as_text=True)))] == [
        r["event_id"] for r in stored[4:]
    ]
    # Nothing newer on a final order: 204 tells EventSource to stop reconnecting.
    done = client.get(f"/track/{number}/events", headers={"Last-Event-ID": str(stored[-1]["event_id"])})
    assert done.status_code == 204 and done.get_data() == b""
    for bad in ("abc", "-1", "1.5", "9" * 30):
        response = client.get(url, headers={**world.alice.headers, "Last-Event-ID": bad})
        assert response.status_code == 400, bad
        assert response.get_json()["code"] == "invalid_last_event_id"


def test_last_event_id_on_a_live_order_waits_for_new_events(app, client, world, orders, sql):
    order = orders.place(world.alice)
    oid = order["order_id"]
    last = stored_events(sql, oid)[-1]["event_id"]
    response, reader = open_stream(
        client, f"/track/{order['tracking_number']}/events", headers={"Last-Event-ID": str(last)}
    )
    try:
        blocks = reader.until(lambda b: b and "retry" in b[0])
        assert events_of(blocks) == []
        other = app.test_client()
        assert other.post(f"/customer/cancel-order/{oid}", headers=world.alice.headers).status_code == 200
        blocks = reader.rest()
    finally:
        reader.close()
    assert reader.ended
    assert [(b["event"], b["data"]["status"]) for b in events_of(blocks)] == [("status", "Cancelled")]


def test_owner_only_and_checked_before_streaming(client, world, orders):
    oid = orders.place(world.alice)["order_id"]
    url = f"/customer/track-order/{oid}/events"
    for headers, status in (
        (world.bob.headers, 404),
        (world.dave.headers, 403),
        (world.admin.headers, 403),
        ({}, 401),
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == status
        assert response.mimetype == "application/json" and response.get_json()["error"]
    missing = client.get("/customer/track-order/999999/events", headers=world.alice.headers)
    assert missing.status_code == 404
    assert client.get("/track/CT0000000000000000/events").status_code == 404


def test_streams_hold_no_connection_between_polls(world, orders):
    """With a one-connection pool, other requests still get through while a stream is open and polling."""
    settings = {"DB_POOL_SIZE": 1, "SSE_POLL_SECONDS": 0.02, "SSE_HEARTBEAT_SECONDS": 0.05}
    app = create_app({**_config(), **settings, "SSE_MAX_SECONDS": 20})
    client = app.test_client()
    order = orders.place(world.alice)
    opened, result, codes = threading.Event(), {}, []

    def follow():
        # Blocking parts run in daemon threads: an implementation that holds the connection fails, not hangs.
        response, reader = open_stream(client, f"/track/{order['tracking_number']}/events")
        try:
            reader.until(lambda b: len(events_of(b)) == 1)
            opened.set()
            # The stream keeps polling (and beating) while the other requests run.
            result["blocks"] = reader.until(lambda b: sum("comment" in x for x in b) >= 10)
        finally:
            reader.close()

    def other_requests():
        for _ in range(5):
            codes.append(client.get(f"/track/{order['tracking_number']}").status_code)

    streaming = threading.Thread(target=follow, daemon=True)
    streaming.start()
    try:
        assert opened.wait(5)
        requests = threading.Thread(target=other_requests, daemon=True)
        requests.start()
        requests.join(5)
        streaming.join(5)
        assert codes == [200] * 5
        assert not streaming.is_alive() and status_of(result["blocks"]) == ["Pending"]
    finally:
        app.extensions["db_pool"].close()


# ---------------------------------------------------------------------------------------------
# Two real server processes: an event written through A reaches a watcher connected to B
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def servers(tmp_path):
    """Two API processes on the test database, polling fast; stopped after the test."""
    settings = {"SSE_POLL_SECONDS": 0.1, "SSE_HEARTBEAT_SECONDS": 1, "SSE_MAX_SECONDS": 30, "DB_POOL_SIZE": 5}
    with start_servers(tmp_path, **settings) as started:
        yield started


def watch(port, path, headers, into):
    """Read an event stream over real HTTP, putting each block on `into`; None at the end."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers={"Accept": "text/event-stream", **headers})
        response = conn.getresponse()
        into.put(("status", response.status, response.getheader("Content-Type")))
        block = []
        for raw in iter(response.readline, b""):
            line = raw.decode().rstrip("\n")
            if line:
                block.append(line)
            elif block:
                into.put(("block", parse("\n".join(block) + "\n\n")[0]))
                block = []
    except OSError as err:
        into.put(("error", repr(err)))
    finally:
        conn.close()
        into.put(None)


def next_event(into, timeout=10):
    """The next data event from a watcher (skipping heartbeats), or None at the end of the stream."""
    deadline = time.monotonic() + timeout
    while True:
        item = into.get(timeout=max(0.01, deadline - time.monotonic()))
        if item is None:
            return None
        assert item[0] != "error", item
        if item[0] == "block" and "data" in item[1]:
            return item[1]


def test_event_written_through_one_process_reaches_a_watcher_on_another(servers, world, sql):
    a, b = servers["a"], servers["b"]
    status, placed = call(
        a,
        "POST",
        "/customer/place-order",
        world.alice,
        {"delivery_address": "1 Far Road", "recipient_name": "Kim"},
    )
    assert status == 201
    oid, number = placed["order"]["order_id"], placed["order"]["tracking_number"]

    owner, public = queue.Queue(), queue.Queue()
    auth = {"Authorization": f"Bearer {world.alice.token}"}
    watchers = [
        threading.Thread(
            target=watch, args=(b, f"/customer/track-order/{oid}/events", auth, owner), daemon=True
        ),
        threading.Thread(target=watch, args=(b, f"/track/{number}/events", {}, public), daemon=True),
    ]
    for thread in watchers:
        thread.start()
    for into in (owner, public):
        first = into.get(timeout=10)
        assert first[0] == "status" and first[1] == 200 and first[2].startswith("text/event-stream"), first
        assert next_event(into)["data"]["status"] == "Pending"

    # Every change goes through process A; both watchers are connected to process B.
    assert (
        call(
            a,
            "POST",
            "/admin/assign-delivery",
            world.admin,
            {"order_id": oid, "delivery_person_id": world.dave.id},
        )[0]
        == 200
    )
    for into in (owner, public):
        event = next_event(into)
        assert (event["event"], event["data"]["status"]) == ("assignment", "Assigned")
    seen = []
    code = call(a, "GET", f"/customer/orders/{oid}/delivery-code", world.alice)[1]["code"]
    for new_status in ("Picked Up", "Out for Delivery", "Delivered"):
        body = {"order_id": oid, "status": new_status, "code": code}
        assert call(a, "PATCH", "/delivery/update-status", world.dave, body)[0] == 200
        event = next_event(owner)
        assert event["data"]["status"] == new_status
        seen.append(int(event["id"]))
        assert next_event(public)["data"]["status"] == new_status
    stored = sql("SELECT event_id FROM order_events WHERE order_id = %s ORDER BY event_id", (oid,))
    assert seen == [r["event_id"] for r in stored[2:]]
    # Both streams end after the Delivered event.
    assert next_event(owner) is None and next_event(public) is None
    for thread in watchers:
        thread.join(5)
        assert not thread.is_alive()
    assert all(proc.poll() is None for proc in servers["procs"])


# ---------------------------------------------------------------------------------------------
# One reader per process: the stream cap, revoked sessions, queries independent of open streams
# ---------------------------------------------------------------------------------------------


class Held:
    """A stream opened, read up to its first event and held open in a thread of its own (a stream keeps
    its request context: it is opened, read and closed in one thread) until release()."""

    def __init__(self, app, url, headers=None):
        self.ready, self.stop, self.result = threading.Event(), threading.Event(), {}
        self.thread = threading.Thread(target=self._run, args=(app, url, headers or {}), daemon=True)
        self.thread.start()

    def _run(self, app, url, headers):
        response, reader = open_stream(app.test_client(), url, headers=headers)
        self.result["status"] = response.status_code
        try:
            if response.status_code == 200:
                reader.until(lambda b: len(events_of(b)) == 1)
            self.ready.set()
            self.stop.wait(20)
        finally:
            reader.close()

    def release(self):
        self.stop.set()
        self.thread.join(10)


def test_stream_cap_answers_503_with_retry_after(app, client, world, orders):
    app.config.update(SSE_MAX_STREAMS=2)
    order = orders.place(world.alice)
    url = f"/track/{order['tracking_number']}/events"
    owner_url = f"/customer/track-order/{order['order_id']}/events"
    held = [Held(app, url), Held(app, owner_url, world.alice.headers)]
    try:
        for stream in held:
            assert stream.ready.wait(10) and stream.result["status"] == 200
        assert livehub.hub(app).open == 2
        refused = client.get(owner_url, headers=world.alice.headers)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert refused.get_json()["code"] == "too_many_streams"
        public = client.get(url)  # the public route's rate limiter may only lengthen Retry-After
        assert public.status_code == 503 and int(public.headers["Retry-After"]) >= 5
        held[0].release()
        # A closed stream gives its place back.
        again = Held(app, url)
        assert again.ready.wait(10) and again.result["status"] == 200
        again.release()
    finally:
        for stream in held:
            stream.release()
    assert livehub.hub(app).open == 0


def follow_until_end(app, url, headers):
    """Open a stream in a thread of its own; returns (ready event, result dict)."""
    ready, result = threading.Event(), {}

    def run():
        response, reader = open_stream(app.test_client(), url, headers=headers)
        result["status"] = response.status_code
        try:
            reader.until(lambda b: len(events_of(b)) == 1)
            ready.set()
            result["blocks"] = reader.rest()
            result["ended"] = reader.ended
            result["at"] = time.monotonic()
        finally:
            reader.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return ready, result, thread


@pytest.mark.parametrize("how", ["logout", "password", "deletion"])
def test_stream_ends_within_5s_when_the_session_ends(app, auth, world, orders, how):
    app.config.update(SSE_POLL_SECONDS=1)  # the production default
    order = orders.place(world.alice)
    streaming = auth.login(
        email=world.alice.login
    ).get_json()  # a second session of Alice's: the stream's own
    url = f"/customer/track-order/{order['order_id']}/events"
    ready, result, thread = follow_until_end(app, url, {"Authorization": f"Bearer {streaming['token']}"})
    assert ready.wait(10) and result["status"] == 200
    other = app.test_client()
    started = time.monotonic()
    if how == "logout":
        answer = other.post("/logout", headers={"Authorization": f"Bearer {streaming['token']}"})
    elif how == "password":  # from Alice's first session: her other sessions end
        body = {"old_password": "password123", "new_password": "a-new-password-1"}
        answer = other.post("/change-password", json=body, headers=world.alice.headers)
    else:
        answer = other.delete(f"/admin/delete-user/customer/{world.alice.id}", headers=world.admin.headers)
    assert answer.status_code == 200, answer.get_json()
    thread.join(10)
    assert not thread.is_alive() and result["ended"]
    assert result["at"] - started < 5
    assert "session ended" in result["blocks"][-1]["comment"]


def test_reader_queries_do_not_grow_with_open_streams(app, world, orders):
    app.config.update(SSE_POLL_SECONDS=30)  # the test drives the reader's polls itself
    hub = livehub.hub(app)
    placed = [orders.place(world.alice) for _ in range(3)]
    held = []
    try:
        for count in (1, 30):
            while len(held) < count:
                order = placed[len(held) % 3]
                url = f"/customer/track-order/{order['order_id']}/events"
                held.append(Held(app, url, world.alice.headers))
            assert all(stream.ready.wait(10) for stream in held)
            assert hub.open == count
            before = hub.queries
            hub.poll_once()
            assert hub.queries - before <= 3, count  # events, positions, revocations
    finally:
        for stream in held:
            stream.release()


def test_reader_delivers_an_event_committed_after_a_newer_one(app, world, orders, sql):
    """Auto-increment ids can commit out of order: the reader looks for a missing id again."""
    app.config.update(SSE_POLL_SECONDS=30)
    hub = livehub.hub(app)
    first, second = orders.place(world.alice), orders.place(world.bob)
    sub = hub.subscribe(first["order_id"])
    try:
        holder = connect()
        holder.begin()
        with holder.cursor() as cur:  # takes an id now, commits later
            cur.execute(
                "INSERT INTO order_events (order_id, type, status, note, actor_role)"
                " VALUES (%s, 'status', 'Pending', 'late', 'system')",
                (first["order_id"],),
            )
            late_id = cur.lastrowid
        other = app.test_client()
        assert (
            other.post(f"/customer/cancel-order/{second['order_id']}", headers=world.bob.headers).status_code
            == 200
        )
        hub.poll_once()
        assert sub.get(0) is None
        holder.commit()
        holder.close()
        hub.poll_once()
        kind, row = sub.get(1)
        assert kind == "event" and row["event_id"] == late_id and row["note"] == "late"
    finally:
        hub.unsubscribe(sub)


def test_session_revoked_elsewhere_stops_the_token_after_one_read(app, client, world, sql):
    """A session check is cached; a revocation made by another process (here: straight in MySQL) ends
    it as soon as the process's reader has looked."""
    app.config.update(SSE_POLL_SECONDS=30, SESSION_CACHE_SECONDS=60)
    hub = livehub.hub(app)
    assert client.get("/customer/orders", headers=world.alice.headers).status_code == 200
    sql(
        "UPDATE auth_sessions SET revoked_at = UTC_TIMESTAMP(6) WHERE user_type = 'customer' AND user_id = %s",
        (world.alice.id,),
    )
    hub.poll_once()
    response = client.get("/customer/orders", headers=world.alice.headers)
    assert response.status_code == 401 and response.get_json()["code"] == "token_revoked"
    # Without the cache, every request asks MySQL.
    app.config.update(SESSION_CACHE_SECONDS=0)
    assert client.get("/customer/orders", headers=world.bob.headers).status_code == 200
    sql(
        "UPDATE auth_sessions SET revoked_at = UTC_TIMESTAMP(6) WHERE user_type = 'customer' AND user_id = %s",
        (world.bob.id,),
    )
    assert client.get("/customer/orders", headers=world.bob.headers).status_code == 401
