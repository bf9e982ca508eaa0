"""Surviving the database: 503 JSON fast while MySQL is unreachable, recovery without a restart, and
/healthz (process) versus /readyz (database). Real outages: a closed port, a TCP proxy that we cut and
restore, and KILL of the app's live connections from an admin connection."""

import socket
import threading
import time

import pytest
from conftest import TEST_DB, _config, connect

from app1 import create_app

DOWN = {"error": "Database unavailable, please retry shortly", "code": "database_unavailable"}


def assert_db_down(response, started):
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json() == DOWN
    assert "Traceback" not in response.get_data(as_text=True)
    assert elapsed < 5, elapsed


class Proxy:
    """A TCP proxy to MySQL that a test can cut (connections reset, new ones refused) and restore."""

    def __init__(self, target=("127.0.0.1", 3306)):
        self.target = target
        self.sockets = []
        self.lock = threading.Lock()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener = None

    def up(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self):
        listener, self.listener = self.listener, None
        listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def proxy():
    proxy = Proxy()
    proxy.up()
    yield proxy
    if proxy.listener is not None:
        proxy.down()


def test_closed_port_answers_503_fast_and_the_app_still_starts(app, auth):
    customer = auth.customer()  # a real token from the working app
    down = create_app({**_config(), "MYSQL_PORT": 1}).test_client()
    assert down.get("/healthz").status_code == 200
    for method, path, kwargs in [
        ("get", "/readyz", {}),
        ("post", "/login", {"json": {"email": customer.login, "password": "password123"}}),
        ("get", "/customer/orders", {"headers": customer.headers}),
        ("get", "/track/CTNOSUCHNUMBER1", {}),
    ]:
        started = time.monotonic()
        assert_db_down(getattr(down, method)(path, **kwargs), started)
    assert down.get("/healthz").get_json() == {"status": "ok"}


def test_outage_then_recovery_without_a_restart(app, auth, proxy):
    customer = auth.customer()
    client = create_app({**_config(), "MYSQL_PORT": proxy.port}).test_client()
    assert client.get("/customer/orders", headers=customer.headers).status_code == 200
    proxy.down()
    for _ in range(3):
        started = time.monotonic()
        assert_db_down(client.get("/customer/orders", headers=customer.headers), started)
        assert_db_down(client.get("/readyz"), started)
        assert client.get("/healthz").status_code == 200
    proxy.up()
    assert client.get("/readyz").status_code == 200
    assert client.get("/customer/orders", headers=customer.headers).status_code == 200
    login = client.post("/login", json={"email": customer.login, "password": "password123"})
    assert login.status_code == 200


def test_killed_connections_are_replaced_on_the_next_request(app, client, auth):
    customer = auth.customer()
    for _ in range(3):
        assert client.get("/customer/orders", headers=customer.headers).status_code == 200
    admin = connect()
    with admin.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID() AS id")
        own = cur.fetchone()["id"]
        cur.execute("SHOW PROCESSLIST")
        victims = [row["Id"] for row in cur.fetchall() if row["db"] == TEST_DB and row["Id"] != own]
        assert victims, "the app should hold pooled connections"
        for victim in victims:
            cur.execute("KILL %s", (victim,))
    admin.close()
    response = client.get("/customer/orders", headers=customer.headers)
    assert response.status_code == 200, response.get_json()
    assert client.get("/readyz").status_code == 200
    placed = client.post(
        "/customer/place-order",
        json={"delivery_address": "1 Road", "recipient_name": "Kim"},
        headers=customer.headers,
    )
    assert placed.status_code == 201
