"""A stalled or lost database answers fast and honestly (like `kill -STOP` of MariaDB): a proxy that stops
passing bytes while the kernel still accepts connections, 30 concurrent clients, a bounded pool wait, and
writes that are never re-run by the pool. Also: a missing database or a wrong password answers 503 with advice.

The measured figures are printed (run with -s to see them)."""

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import PASSWORD, _config
from test_db_outage import Proxy

from app1 import create_app

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 30


class StallingProxy(Proxy):
    """A TCP proxy to MySQL that can stall: connections stay open and new ones are accepted, but no byte
    is passed on (what clients see of a frozen server). `stall_replies_after(marker, seconds)` stalls only
    the server's answers, for `seconds`, from the moment a client sends `marker`: the statement runs, its
    answer comes late."""

    def __init__(self):
        super().__init__()
        self.flowing = threading.Event()
        self.flowing.set()
        self.replies = threading.Event()
        self.replies.set()
        self.marker = None
        self.marker_seconds = 0
        self.upstream_socks = set()

    def stall(self):
        self.flowing.clear()

    def resume(self):
        self.flowing.set()

    def stall_replies_after(self, marker, seconds):
        self.marker, self.marker_seconds = marker, seconds

    def _accept(self, listener):
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = __import__("socket").create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pipe_dir, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe_dir, args=(upstream, client, True), daemon=True).start()

    def _pipe_dir(self, source, sink, is_reply):
        import socket

        try:
            while data := source.recv(65536):
                self.flowing.wait()
                if is_reply:
                    self.replies.wait()
                elif self.marker and self.marker in data:
                    self.marker = None
                    self.replies.clear()
                    threading.Timer(self.marker_seconds, self.replies.set).start()
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def stalling_proxy():
    proxy = StallingProxy()
    proxy.up()
    yield proxy
    proxy.resume()
    proxy.replies.set()
    if proxy.listener is not None:
        proxy.down()


def _timed(fn):
    started = time.monotonic()
    response = fn()
    return response, time.monotonic() - started


def test_stalled_database_answers_503_within_5s_for_30_clients_and_recovers_within_3s(
    app, auth, stalling_proxy
):
    customer = auth.customer()
    config = {**_config(), "MYSQL_PORT": stalling_proxy.port, "DB_POOL_SIZE": 10}
    stalled_app = create_app(config)
    try:
        warm = stalled_app.test_client()
        assert warm.get("/customer/orders", headers=customer.headers).status_code == 200
        stalling_proxy.stall()
        results = [None] * CLIENTS

        def one(i):
            client = stalled_app.test_client()
            if i % 3 == 0:
                call = lambda: client.post("/login", json={"email": customer.login, "password": PASSWORD})  # noqa: E731
            elif i % 3 == 1:
                call = lambda: client.get("/customer/orders", headers=customer.headers)  # noqa: E731
            else:
                call = lambda: client.get("/readyz")  # noqa: E731
            results[i] = _timed(call)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        health, health_seconds = _timed(lambda: stalled_app.test_client().get("/healthz"))
        for thread in threads:
            thread.join(30)
        wall = time.monotonic() - started
        statuses = sorted({response.status_code for response, _ in results})
        slowest = max(seconds for _, seconds in results)
        assert statuses == [503], [r.get_json() for r, _ in results]
        assert all(r.get_json()["code"] == "database_unavailable" for r, _ in results)
        assert slowest < 5, slowest
        assert health.status_code == 200 and health_seconds < 0.5, health_seconds

        stalling_proxy.resume()
        resumed = time.monotonic()
        recovered = None
        client = stalled_app.test_client()
        while time.monotonic() - resumed < 10:
            if client.get("/customer/orders", headers=customer.headers).status_code == 200:
                recovered = time.monotonic() - resumed
                break
        assert recovered is not None and recovered < 3, recovered
        login = client.post("/login", json={"email": customer.login, "password": PASSWORD})
        assert login.status_code == 200
        print(
            f"\n[outage] {CLIENTS} clients on a stalled database: all 503, slowest {slowest:.2f}s,"
            f" all answered within {wall:.2f}s; /healthz {health_seconds * 1000:.1f} ms;"
            f" recovered {recovered:.2f}s after the database returned"
        )
    finally:
        stalled_app.extensions["db_pool"].close()


def test_a_write_whose_answer_is_late_is_never_run_twice(app, auth, sql, stalling_proxy):
    """The session INSERT of a login reaches the server, its answer comes after the read timeout: 503, and
    the statement ran once (a pool that reconnects and re-runs it got 1062 Duplicate entry: a 500)."""
    customer = auth.customer()
    config = {**_config(), "MYSQL_PORT": stalling_proxy.port, "MYSQL_READ_TIMEOUT": 2}
    late_app = create_app(config)
    try:
        client = late_app.test_client()
        before = sql("SELECT COUNT(*) AS n FROM auth_sessions WHERE user_id = %s", (customer.id,), one=True)[
            "n"
        ]
        stalling_proxy.stall_replies_after(b"INSERT INTO auth_sessions", 2.5)
        response, seconds = _timed(
            lambda: client.post("/login", json={"email": customer.login, "password": PASSWORD})
        )
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["code"] == "database_unavailable"
        assert seconds < 5
        stalling_proxy.replies.wait(5)
        after = sql("SELECT COUNT(*) AS n FROM auth_sessions WHERE user_id = %s", (customer.id,), one=True)[
            "n"
        ]
        assert after - before == 1  # committed once, never replayed
        assert client.post("/login", json={"email": customer.login, "password": PASSWORD}).status_code == 200
        print(f"\n[outage] late write answer: 503 in {seconds:.2f}s, statement ran {after - before} time(s)")
    finally:
        late_app.extensions["db_pool"].close()


def test_a_missing_database_answers_503_saying_to_run_init_db(app):
    missing = create_app({**_config(), "MYSQL_DB": f"courier_missing_{uuid.uuid4().hex[:8]}"}).test_client()
    for path in ("/readyz", "/track/CTNOSUCH1"):
        response = missing.get(path)
        assert response.status_code == 503
        body = response.get_json()
        assert body["code"] == "database_unavailable"
        assert "flask --app app1 init-db" in body["error"]
    login = missing.post("/login", json={"email": "a@example.com", "password": PASSWORD})
    assert login.status_code == 503 and "init-db" in login.get_json()["error"]


def test_a_wrong_database_account_answers_503_saying_to_check_the_credentials(app):
    denied = create_app({**_config(), "MYSQL_USER": "no_such_user_x", "MYSQL_PASSWORD": "nope"}).test_client()
    response = denied.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "database_unavailable"
    assert "MYSQL_USER" in body["error"] and "MYSQL_PASSWORD" in body["error"]
    assert "access denied" in body["error"].lower()


def test_make_run_precheck_says_access_denied_for_a_wrong_password():
    env = {**os.environ, "MYSQL_USER": "no_such_user_x", "MYSQL_PASSWORD": "nope"}
    done = subprocess.run(
        [sys.executable, "-m", "courier.dbcheck"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "access denied" in done.stderr.lower()
    assert "cannot reach" not in done.stderr.lower()


def test_pool_wait_is_bounded_when_every_connection_is_taken(app):
    """Every pooled connection busy (here: held by other requests): the next request waits at most
    DB_WAIT_SECONDS, then answers 503 instead of hanging."""
    busy = create_app({**_config(), "DB_POOL_SIZE": 1, "DB_WAIT_SECONDS": 0.5})
    try:
        pool = busy.extensions["db_pool"]
        held = pool.connection()
        try:
            response, seconds = _timed(lambda: busy.test_client().get("/readyz"))
        finally:
            held.close()
        assert response.status_code == 503 and response.get_json()["code"] == "database_unavailable"
        assert 0.4 < seconds < 2, seconds
        assert busy.test_client().get("/readyz").status_code == 200
    finally:
        busy.extensions["db_pool"].close()
