"""Workers deliver each message once unless one crashes (leases renewed while a batch goes on), the webhook
timeout bounds the whole request, URLs refused at delivery fail for good, retrying a notification of a deleted
webhook is a 409, and webhook URLs are secure by default (no private IPv4 hidden in an IPv6 address)."""

import collections
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import _config
from helpers import assert_error

from app1 import create_app
from courier import worker
from courier.config import from_env


class SlowReceiver:
    """An HTTP receiver that answers 200 after `delay` seconds, or drips its answer a byte at a time."""

    def __init__(self, delay=0.0, drip=None):
        self.delay, self.drip = delay, drip
        self.deliveries = collections.Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.deliveries[self.headers["X-Courier-Delivery"]] += 1
                time.sleep(receiver.delay)  # the receiver's own slowness, the scenario under test
                self.send_response(200)
                if receiver.drip:
                    self.send_header("Content-Length", str(receiver.drip[0]))
                    self.end_headers()
                    try:
                        for _ in range(receiver.drip[0]):
                            self.wfile.write(b".")
                            self.wfile.flush()
                            time.sleep(receiver.drip[1])
                    except OSError:
                        pass
                    return
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def app(app):
    app.config.update(
        NOTIFY_BACKOFF_SECONDS=0,
        NOTIFY_BACKOFF_MAX_SECONDS=0,
        WEBHOOK_TIMEOUT_SECONDS=1,
        WEBHOOK_ALLOW_PRIVATE=True,
        SMTP_HOST="",
        SMS_PROVIDER="",
    )
    return app


def register(client, admin, url):
    response = client.post(
        "/admin/webhooks", json={"url": url, "events": ["order.delivered"]}, headers=admin.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["webhook"]


def send_tests(client, admin, webhook_id, n):
    ids = []
    for _ in range(n):
        response = client.post(f"/admin/webhooks/{webhook_id}/test", headers=admin.headers)
        assert response.status_code == 202
        ids.append(response.get_json()["notification"]["notification_id"])
    return ids


def test_two_live_workers_with_a_slow_receiver_deliver_each_message_once(app, client, world, sql):
    receiver = SlowReceiver(delay=0.6)
    try:
        hook = register(client, world.admin, receiver.url)
        ids = send_tests(client, world.admin, hook["webhook_id"], 6)
        stopper = worker.Stopper()
        errors = []

        def work(name):
            try:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    with app.app_context():
                        done = worker.work_batch(name, 4, 1.5, stopper)
                        left = sql(
                            "SELECT COUNT(*) AS n FROM notifications WHERE status IN ('pending', 'sending')",
                            one=True,
                        )["n"]
                    if left == 0:
                        return
                    if done == 0:
                        stopper.wait(0.05)
            except Exception as exc:  # reported by the test, not lost in the thread
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        took = time.monotonic() - started
        assert not errors, errors
        assert sorted(int(k) for k in receiver.deliveries) == sorted(ids)
        twice = {k: n for k, n in receiver.deliveries.items() if n > 1}
        print(
            f"\n[workers] 6 messages, 0.6 s receiver, lease 1.5 s, 2 workers: {took:.1f}s, duplicates {twice}"
        )
        assert twice == {}
        statuses = {row["status"] for row in sql("SELECT status FROM notifications")}
        assert statuses == {"sent"}
        assert sql("SELECT COUNT(*) AS n FROM notification_attempts", one=True)["n"] == 6
    finally:
        receiver.close()


def test_the_webhook_timeout_bounds_the_whole_request(app, client, world, sql):
    receiver = SlowReceiver(drip=(40, 0.25))  # 10 s of answer, each byte well within a per-read timeout
    try:
        hook = register(client, world.admin, receiver.url)
        (notification_id,) = send_tests(client, world.admin, hook["webhook_id"], 1)
        started = time.monotonic()
        assert worker.drain(app) == 1
        took = time.monotonic() - started
        print(
            f"\n[webhook timeout] dripping receiver, WEBHOOK_TIMEOUT_SECONDS=1: attempt ended after {took:.2f}s"
        )
        assert took < 2.5, took
        attempt = sql("SELECT ok, error, duration_ms FROM notification_attempts", one=True)
        assert attempt["ok"] == 0 and "timed out" in attempt["error"]
        row = client.get(f"/admin/notifications/{notification_id}", headers=world.admin.headers).get_json()
        assert row["notification"]["status"] == "pending"  # a timeout is retried
    finally:
        receiver.close()


def test_a_url_refused_at_delivery_fails_for_good_with_the_reason(app, client, world, sql):
    receiver = SlowReceiver()
    try:
        hook = register(client, world.admin, receiver.url)  # allowed when it was registered
        (notification_id,) = send_tests(client, world.admin, hook["webhook_id"], 1)
        app.config["WEBHOOK_ALLOW_PRIVATE"] = False
        assert worker.drain(app) == 1
        body = client.get(f"/admin/notifications/{notification_id}", headers=world.admin.headers).get_json()
        assert body["notification"]["status"] == "failed"
        assert (
            "refused" in body["notification"]["last_error"]
            and "private" in body["notification"]["last_error"]
        )
        assert worker.drain(app) == 0  # not retried
        assert receiver.deliveries == {}
    finally:
        receiver.close()


def test_retrying_a_notification_of_a_deleted_webhook_is_409(app, client, world, sql):
    hook = register(client, world.admin, "http://127.0.0.1:9/hook")
    (notification_id,) = send_tests(client, world.admin, hook["webhook_id"], 1)
    assert (
        client.delete(f"/admin/webhooks/{hook['webhook_id']}", headers=world.admin.headers).status_code == 200
    )
    assert sql("SELECT status FROM notifications", one=True)["status"] == "failed"
    response = client.post(f"/admin/notifications/{notification_id}/retry", headers=world.admin.headers)
    body = assert_error(response, 409, "webhook_deleted")
    assert body["webhook_id"] == hook["webhook_id"]
    assert sql("SELECT status FROM notifications", one=True)["status"] == "failed"


# --------------------------------------------------------------------------------------------
# Webhook URLs: secure by default
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[64:ff9b:1::c0a8:101]/",  # local-use NAT64 of 192.168.1.1
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:c0a8:101::1]/",  # 6to4 of 192.168.1.1
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
    ],
)
def test_ipv6_addresses_embedding_private_ipv4_are_refused(app, client, world, sql, url):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    response = client.post(
        "/admin/webhooks", json={"url": url, "events": ["order.delivered"]}, headers=world.admin.headers
    )
    body = assert_error(response, 400, "url_not_allowed")
    assert "url" in body["fields"]
    assert sql("SELECT COUNT(*) AS n FROM webhooks", one=True)["n"] == 0


def test_nat64_of_a_public_address_is_allowed(app, client, world):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    response = client.post(
        "/admin/webhooks",
        json={"url": "http://[64:ff9b::808:808]/", "events": ["order.delivered"]},
        headers=world.admin.headers,
    )
    assert response.status_code == 201, response.get_json()


def test_private_addresses_are_refused_by_default_outside_debug_and_tests(world, monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "")
    assert from_env()["WEBHOOK_ALLOW_PRIVATE"] is None
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    assert from_env()["WEBHOOK_ALLOW_PRIVATE"] is True
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "0")
    assert from_env()["WEBHOOK_ALLOW_PRIVATE"] is False
    body = {"url": "http://127.0.0.1:9/hook", "events": ["order.delivered"]}
    production = create_app({**_config(), "TESTING": False, "DEBUG": False, "WEBHOOK_ALLOW_PRIVATE": None})
    testing = create_app({**_config(), "WEBHOOK_ALLOW_PRIVATE": None})
    explicit = create_app({**_config(), "TESTING": False, "WEBHOOK_ALLOW_PRIVATE": True})
    try:
        refused = production.test_client().post("/admin/webhooks", json=body, headers=world.admin.headers)
        assert_error(refused, 400, "url_not_allowed")
        assert (
            testing.test_client().post("/admin/webhooks", json=body, headers=world.admin.headers).status_code
            == 201
        )
        assert (
            explicit.test_client().post("/admin/webhooks", json=body, headers=world.admin.headers).status_code
            == 201
        )
    finally:
        for one in (production, testing, explicit):
            one.extensions["db_pool"].close()
