"""Two nodes behind a real HAProxy, two workers, one MySQL, one Redis: a node dies under load.

The cluster is tools.cluster (what `make cluster` runs) on free loopback ports and the test database.
Load is bounded by request counts (not time): writers place orders (each with a marker in its description),
readers GET, a courier reports positions (each one an event on a watched order), and two live streams watch
that order. One node is SIGKILLed in the middle. Then:

- every 2xx write is stored exactly once, and nothing is stored twice (a write whose answer was lost with the
  node may be stored: it was in flight there);
- no GET fails (HAProxy re-sends it to the other node); failed requests are at most those HAProxy saw cut on
  the killed node;
- each live stream receives every event of the order once, in order, reconnecting to the survivor with
  Last-Event-ID.
"""

import json
import os
import threading
import uuid
from collections import Counter

import pytest
import redis
import requests
from conftest import TEST_DB, _config
from live_servers import free_port
from smtp_sink import smtp_server, wait_for

from tools.cluster import Cluster

REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
WRITERS, READERS = 4, 4
KILL_AFTER, STOP_AFTER = 150, 450  # completed requests before the kill, and in all


@pytest.fixture(scope="module")
def sink():
    with smtp_server() as (sink, port):
        sink.port = port
        yield sink


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, sink):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as err:
        pytest.fail(f"the cluster tests need Redis at {REDIS_URL} (TEST_REDIS_URL): {err}")
    config = _config()
    env = {
        "MYSQL_DB": TEST_DB,
        "JWT_SECRET_KEY": config["JWT_SECRET_KEY"],  # tokens from the test fixtures work on the nodes
        "BCRYPT_LOG_ROUNDS": "4",
        "FLASK_DEBUG": "0",
        "WEB_CONCURRENCY": "1",
        "DB_POOL_SIZE": "10",
        "REDIS_URL": REDIS_URL,
        "LOGIN_LIMIT_KEY_PREFIX": f"test-cluster-{uuid.uuid4().hex[:12]}",  # this run's counters only
        "TRUSTED_PROXIES": "1",
        "TRACK_RATE_LIMIT": "5/minute",
        "SSE_POLL_SECONDS": "0.1",
        "SSE_HEARTBEAT_SECONDS": "5",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "SMTP_STARTTLS": "0",
        "SMTP_USER": "",
        "SMS_PROVIDER": "",
        "NOTIFY_BACKOFF_SECONDS": "0.05",
        "NOTIFY_BACKOFF_MAX_SECONDS": "0.1",
        "WORKER_POLL_SECONDS": "0.05",
        "WORKER_BATCH": "1",
        "LOG_LEVEL": "warning",
    }
    run_dir = tmp_path_factory.mktemp("cluster")
    cluster = Cluster(run_dir, free_port(), env=env, check_every="500ms").start()
    try:
        yield cluster
    finally:
        cluster.stop()
    assert all(proc.poll() is not None for proc in cluster.procs.values())


@pytest.fixture
def live_cluster(cluster):
    """The cluster with every node up (a test before may have killed one)."""
    for name, proc in cluster.procs.items():
        if name in cluster.nodes and proc.poll() is not None:
            cluster.start_node(name)
    cluster.wait_up()
    return cluster


def haproxy_log(cluster):
    """HAProxy's log lines as (method, path, server, status, termination state, retries)."""
    lines = (cluster.run_dir / "haproxy.log").read_text().splitlines()
    rows = [tuple(line.split()) for line in lines]
    return [row for row in rows if len(row) == 6 and row[1].startswith("/")]


class Stream:
    """A live-stream client: reads events, reconnects with Last-Event-ID when the connection breaks."""

    def __init__(self, url, token):
        self.url, self.token = url, token
        self.ids, self.nodes, self.errors = [], [], []
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.ids:
                headers["Last-Event-ID"] = str(self.ids[-1])
            try:
                with requests.get(self.url, headers=headers, stream=True, timeout=(2, 10)) as response:
                    if response.status_code != 200:
                        self.errors.append(response.status_code)
                        continue
                    self.nodes.append(response.headers.get("X-Served-By"))
                    self.connected.set()
                    for line in response.iter_lines(decode_unicode=True):
                        if line.startswith("id: "):
                            self.ids.append(int(line[4:]))
                        if self.stop.is_set():
                            return
            except requests.RequestException as err:  # the node died under the stream: reconnect
                self.errors.append(type(err).__name__)


class Load:
    """Bounded load through HAProxy: threads run until `total` requests have completed."""

    def __init__(self, url, total):
        self.url, self.total = url, total
        self.lock = threading.Lock()
        self.done = 0
        self.in_flight = 0
        self.killed = False  # set once a node is killed; each result says whether it started after
        self.results = []  # (kind, method, status or exception name, marker, served by, started after the kill)
        self.stop = threading.Event()

    def request(self, session, kind, method, path, token, marker=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        with self.lock:
            self.in_flight += 1
            after_kill = self.killed
        try:
            response = session.request(method, self.url + path, headers=headers, timeout=15, **kwargs)
            outcome, node = response.status_code, response.headers.get("X-Served-By")
            body = response.json() if response.status_code < 300 else None
        except requests.RequestException as err:
            outcome, node, body = type(err).__name__, None, None
        with self.lock:
            self.in_flight -= 1
            self.results.append((kind, method, outcome, marker, node, after_kill))
            self.done += 1
            if self.done >= self.total:
                self.stop.set()
        return body

    def completed(self):
        with self.lock:
            return self.done

    def run(self, target, *args):
        thread = threading.Thread(target=self._loop, args=(target, *args), daemon=True)
        thread.start()
        return thread

    def _loop(self, target, *args):
        with requests.Session() as session:
            while not self.stop.is_set():
                target(session, *args)


def test_a_node_dies_under_load(live_cluster, auth, orders, sql):
    cluster = live_cluster
    admin, courier = auth.admin(), auth.courier()
    customers = [auth.customer() for _ in range(WRITERS)]
    watched = orders.place(customers[0])
    orders.assign(admin, watched["order_id"], courier)
    stream_url = f"{cluster.url}/customer/track-order/{watched['order_id']}/events"

    # Two live streams; leastconn puts them on different nodes.
    streams = [Stream(stream_url, customers[0].token) for _ in range(2)]
    for stream in streams:
        stream.thread.start()
        assert stream.connected.wait(10)
    assert {stream.nodes[0] for stream in streams} == {"node1", "node2"}, [s.nodes for s in streams]
    victim = streams[0].nodes[0]
    survivor = next(name for name in cluster.nodes if name != victim)

    load = Load(cluster.url, STOP_AFTER)

    def write(session, customer):
        marker = f"load:{customers.index(customer)}:{uuid.uuid4().hex}"
        body = {"delivery_address": "1 Load Road", "recipient_name": "Rita", "description": marker}
        headers = {"Idempotency-Key": marker}  # a client may re-send it safely
        load.request(
            session,
            "write",
            "POST",
            "/customer/place-order",
            customer.token,
            marker,
            json=body,
            headers=headers,
        )

    def read(session, customer):
        load.request(session, "read", "GET", "/customer/orders?limit=5", customer.token)

    moves = iter(range(1, 10**6))

    def move(session):
        body = {"order_id": watched["order_id"], "location": f"Stop {next(moves)}"}
        load.request(session, "move", "PATCH", "/delivery/update-location", courier.token, json=body)

    threads = [load.run(write, customer) for customer in customers]
    threads += [load.run(read, customers[i % WRITERS]) for i in range(READERS)]
    threads.append(load.run(move))

    wait_for(lambda: load.completed() >= KILL_AFTER, timeout=60, message="load before the kill")
    with load.lock:  # no request starts or ends meanwhile
        cluster.kill_node(victim)
        in_flight, load.killed = load.in_flight, True
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads)
    assert load.completed() >= STOP_AFTER

    results = load.results
    failed = [r for r in results if not (isinstance(r[2], int) and 200 <= r[2] < 300)]
    # A read whose node died before answering was re-sent to the survivor by HAProxy; only one whose answer
    # had begun (then was cut) can fail, as no proxy can take back what it already forwarded.
    assert {r[2] for r in failed if r[1] == "GET"} <= {"ChunkedEncodingError"}
    # Every request sent after the kill succeeded, on the survivor.
    after_kill = [r for r in results if r[5]]
    assert after_kill and {(r[2] in (200, 201), r[4]) for r in after_kill} == {(True, survivor)}

    # Writes: each answered 2xx is stored exactly once and nothing is stored twice; what else is stored was
    # in flight on the killed node (committed there, its answer lost).
    def stored():
        rows = sql("SELECT description FROM orders WHERE description LIKE %s", ("load:%",))
        return Counter(row["description"] for row in rows)

    ok = {r[3] for r in results if r[0] == "write" and r not in failed}
    failed_writes = {r[3] for r in failed if r[0] == "write"}
    assert set(stored().values()) == {1}
    assert ok <= set(stored())
    assert set(stored()) - ok <= failed_writes
    # The failures were in flight when the node died: HAProxy answered 502 (and logged it on that node), or,
    # for a request that was not the first on its client connection, closed that connection without an
    # answer (as a server ending a keep-alive connection does; HAProxy does not log these).
    assert len(failed) <= in_flight
    log = haproxy_log(cluster)
    errors = [line for line in log if not line[3].startswith(("2", "4"))]
    assert {line[2] for line in errors} <= {victim} and len(errors) <= len(failed)
    # Re-sent with the same Idempotency-Key, each failed write is stored once, whether or not it had been.
    with requests.Session() as session:
        for marker in failed_writes:
            customer = customers[int(marker.split(":")[1])]
            body = {"delivery_address": "1 Load Road", "recipient_name": "Rita", "description": marker}
            response = session.post(
                cluster.url + "/customer/place-order",
                json=body,
                headers={"Authorization": f"Bearer {customer.token}", "Idempotency-Key": marker},
                timeout=10,
            )
            assert response.status_code == 201
    writes = {r[3] for r in results if r[0] == "write"}
    assert stored() == Counter(dict.fromkeys(writes, 1)), (
        stored() - Counter(writes),
        Counter(writes) - stored(),
    )

    # Live streams: every event of the order, once, in order; the cut one resumed on the survivor.
    event_ids = [
        row["event_id"]
        for row in sql(
            "SELECT event_id FROM order_events WHERE order_id = %s ORDER BY event_id", (watched["order_id"],)
        )
    ]
    for stream in streams:
        wait_for(lambda s=stream: s.ids and s.ids[-1] == event_ids[-1], timeout=20, message="stream catch-up")
        stream.stop.set()
        assert stream.ids == event_ids
    assert streams[0].nodes[0] == victim and streams[0].nodes[-1] == survivor
    moved = sum(1 for r in results if r[0] == "move" and r not in failed)
    assert len(event_ids) >= 2 + moved  # created, assigned, then one location event per accepted move

    # The survivor served the rest; HAProxy marks the dead node DOWN.
    wait_for(lambda: cluster.server_status()[victim] == "DOWN", timeout=10, message="victim marked down")
    report = {
        "requests": len(results),
        "in_flight_at_kill": in_flight,
        "failed": len(failed),
        "haproxy_502": len(errors),
        "reads_retried_by_haproxy": sum(1 for line in log if line[0] == "GET" and line[5] != "0"),
        "writes_ok": len(ok),
        "events_streamed": len(event_ids),
    }
    print(json.dumps(report))


def test_rate_limits_and_lockouts_hold_across_nodes(live_cluster, auth):
    cluster = live_cluster
    courier = auth.courier()
    nodes = list(cluster.nodes.values())

    def node(i):
        return f"http://127.0.0.1:{nodes[i % 2]}"

    # Login lockout (5 failed logins per account): failures on alternate nodes add up in Redis.
    body = {"email": courier.login, "password": "wrong-password"}
    statuses = [requests.post(node(i) + "/login", json=body, timeout=10).status_code for i in range(5)]
    assert statuses == [401] * 5
    for i in range(2):
        response = requests.post(node(i) + "/login", json={**body, "password": "password123"}, timeout=10)
        assert response.status_code == 429 and response.headers["Retry-After"]

    # Public tracking (TRACK_RATE_LIMIT 5/minute per client): one client's requests to both nodes count once.
    client = {"X-Forwarded-For": f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"}  # this run's own
    statuses = [
        requests.get(node(i) + "/track/NO-SUCH-NUMBER", headers=client, timeout=10).status_code
        for i in range(7)
    ]
    assert statuses == [404] * 5 + [429] * 2


def test_two_workers_deliver_each_message_once(live_cluster, auth, orders, sql, sink):
    cluster = live_cluster
    admin, courier = auth.admin(), auth.courier()
    customer = auth.customer()
    before = len(sink.message_ids())
    placed = [orders.place(customer) for _ in range(24)]
    with requests.Session() as session:
        for order in placed:
            response = session.post(
                cluster.url + "/admin/assign-delivery",
                json={"order_id": order["order_id"], "delivery_person_id": courier.id},
                headers=admin.headers,
                timeout=10,
            )
            assert response.status_code == 200, response.text
    wait_for(
        lambda: sql("SELECT COUNT(*) AS n FROM notifications WHERE status <> 'sent'", one=True)["n"] == 0,
        timeout=30,
        message="outbox drained",
    )
    rows = sql("SELECT notification_id, attempts, claimed_by FROM notifications ORDER BY notification_id")
    assert len(rows) == len(placed)
    assert {row["attempts"] for row in rows} == {1}
    assert {row["claimed_by"] for row in rows} == {"worker1", "worker2"}  # both took part
    received = sink.message_ids()[before:]
    assert len(received) == len(rows) and len(set(received)) == len(received)
