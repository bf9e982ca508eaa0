"""Webhooks: admins register endpoints; every delivery is a signed JSON POST to a real HTTP receiver on
loopback, retried with backoff, and an endpoint that keeps failing is disabled until an admin enables it."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import assert_error, count
from jsonschema import Draft202012Validator

from courier import openapi, webhooks, worker

SECRET_RE = r"^whsec_[A-Za-z0-9_-]{43}$"
ALL_ORDER_EVENTS = [
    "order.assigned",
    "order.picked_up",
    "order.in_transit",
    "order.out_for_delivery",
    "order.delivered",
    "order.failed_attempt",
    "order.returned",
    "order.cancelled",
]


# --------------------------------------------------------------------------------------------
# A real HTTP receiver on loopback
# --------------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server in a thread that records every request; it can fail or hang the next N requests."""

    def __init__(self):
        self.requests = []
        self.plan = []  # what to do for the next requests: ("status", code) or ("hang", seconds)
        self.lock = threading.Lock()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "at": time.time()}
                    )
                    action = receiver.plan.pop(0) if receiver.plan else ("status", 200)
                if action[0] == "hang":
                    receiver.release.wait(action[1])
                    return  # no answer at all: the sender times out
                self.send_response(action[1])
                if 300 <= action[1] < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a sender that gave up closes its socket: not an error here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/courier?src=test"

    def fail(self, n, status=500):
        with self.lock:
            self.plan += [("status", status)] * n

    def hang(self, n, seconds=5):
        with self.lock:
            self.plan += [("hang", seconds)] * n

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def app(app):
    """The usual test app, with retries due at once, a short timeout, and no email or SMS."""
    app.config.update(
        NOTIFY_BACKOFF_SECONDS=0,
        NOTIFY_BACKOFF_MAX_SECONDS=0,
        WEBHOOK_TIMEOUT_SECONDS=1,
        WEBHOOK_ALLOW_PRIVATE=True,
        SMTP_HOST="",
        SMS_PROVIDER="",
    )
    return app


def register(client, admin, url, events=("order.delivered",), **extra):
    body = {"url": url, "events": list(events), **extra}
    return client.post("/admin/webhooks", json=body, headers=admin.headers)


def registered(client, admin, url, events=("order.delivered",), **extra):
    """Register an endpoint and return its answer (with the secret)."""
    response = register(client, admin, url, events, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["webhook"]


def assert_documented(body, name):
    """The body matches its response schema in the OpenAPI document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": openapi.RESPONSE_SCHEMAS}}
    errors = list(Draft202012Validator(schema).iter_errors(body))
    assert not errors, [e.message for e in errors]


def webhook_row(sql, webhook_id):
    return sql("SELECT * FROM webhooks WHERE webhook_id = %s", (webhook_id,), one=True)


# --------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------


def test_sign_and_verify():
    body = b'{"event_id": "abc", "type": "order.delivered"}'
    header = webhooks.sign("whsec_key", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert webhooks.verify("whsec_key", header, body, now=1_700_000_000)
    assert webhooks.verify("whsec_key", header, body, now=1_700_000_000 + 300)
    # Replays older than five minutes, a tampered body, another secret, a changed timestamp: all refused.
    assert not webhooks.verify("whsec_key", header, body, now=1_700_000_000 + 301)
    assert not webhooks.verify("whsec_key", header, body + b" ", now=1_700_000_000)
    assert not webhooks.verify("whsec_other", header, body, now=1_700_000_000)
    forged = header.replace("t=1700000000", "t=1700000100")
    assert not webhooks.verify("whsec_key", forged, body, now=1_700_000_100)
    for bad in ["", "garbage", "t=1700000000", "v1=" + "0" * 64, "t=abc,v1=00", None]:
        assert not webhooks.verify("whsec_key", bad, body, now=1_700_000_000)


def test_verify_accepts_any_of_several_v1_signatures():
    body = b"{}"
    good = webhooks.sign("whsec_key", 1_700_000_000, body)
    header = "t=1700000000,v1=" + "0" * 64 + "," + good.split(",")[1]
    assert webhooks.verify("whsec_key", header, body, now=1_700_000_010)


@pytest.mark.parametrize(
    "address, blocked",
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_private_addresses_are_recognised(address, blocked):
    assert webhooks._blocked(address) is blocked


# --------------------------------------------------------------------------------------------
# Registration: POST/GET/DELETE /admin/webhooks
# --------------------------------------------------------------------------------------------


def test_register_shows_secret_once(client, world, sql, receiver):
    response = register(
        client, world.admin, receiver.url, ["order.delivered", "order.assigned"], description="  ERP  "
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["message"] == "Webhook registered"
    assert_documented(body, "WebhookResult")
    hook = body["webhook"]
    assert hook["url"] == receiver.url and hook["description"] == "ERP"
    assert hook["events"] == ["order.assigned", "order.delivered"]  # in the catalogue's order
    assert hook["enabled"] is True and hook["consecutive_failures"] == 0 and hook["disabled_at"] is None
    assert hook["last_success_at"] is None and hook["created_at"].endswith("Z")
    assert re.match(SECRET_RE, hook["secret"])
    row = webhook_row(sql, hook["webhook_id"])
    assert row["secret"] == hook["secret"] and row["created_by"] == world.admin.id
    assert row["events"] == "order.assigned,order.delivered" and row["deleted_at"] is None

    # Never again: not in the list, not in the detail.
    listed = client.get("/admin/webhooks", headers=world.admin.headers)
    assert listed.status_code == 200
    detail = client.get(f"/admin/webhooks/{hook['webhook_id']}", headers=world.admin.headers)
    assert detail.status_code == 200
    for text in (listed.get_data(as_text=True), detail.get_data(as_text=True)):
        assert hook["secret"] not in text and '"secret"' not in text
    assert_documented(listed.get_json(), "WebhookPage")
    assert_documented(detail.get_json(), "WebhookResult")
    shown = detail.get_json()["webhook"]
    assert shown["webhook_id"] == hook["webhook_id"] and shown["deliveries"] == []
    assert {k: v for k, v in shown.items() if k != "deliveries"} == {
        k: v for k, v in hook.items() if k != "secret"
    }


def test_each_endpoint_gets_its_own_secret(client, world, receiver):
    first = registered(client, world.admin, receiver.url)
    second = registered(client, world.admin, receiver.url)
    assert first["secret"] != second["secret"]


def test_list_pages_by_id_and_leaves_out_deleted(client, world, receiver):
    ids = [registered(client, world.admin, receiver.url)["webhook_id"] for _ in range(5)]
    assert client.delete(f"/admin/webhooks/{ids[1]}", headers=world.admin.headers).status_code == 200
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/admin/webhooks", query_string=query, headers=world.admin.headers)
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["webhooks"]) <= 2
        seen += [hook["webhook_id"] for hook in body["webhooks"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [ids[0], *ids[2:]]
    bad = client.get("/admin/webhooks", query_string={"cursor": "nope"}, headers=world.admin.headers)
    assert_error(bad, 400, "invalid_cursor")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "ftp://example.com/hook", "events": ["order.delivered"]}, "url"),
        ({"url": "javascript:alert(1)", "events": ["order.delivered"]}, "url"),
        ({"url": "http://", "events": ["order.delivered"]}, "url"),
        ({"url": "http://user:pw@example.com/hook", "events": ["order.delivered"]}, "url"),
        ({"url": "http://example.com:99999/hook", "events": ["order.delivered"]}, "url"),
        ({"url": "http://example.com/hook", "events": ["order.exploded"]}, "events.0"),
        ({"url": "http://example.com/hook", "events": ["webhook.test"]}, "events.0"),
        ({"url": "http://example.com/hook", "events": []}, "events"),
        ({"url": "http://example.com/hook", "events": "order.delivered"}, "events"),
        ({"url": "http://example.com/hook", "events": ["order.delivered", "order.delivered"]}, "events"),
        ({"url": "http://example.com/hook", "events": ["order.delivered"], "secret": "mine"}, "secret"),
        ({"url": "http://example.com/hook", "events": ["order.delivered"], "description": 5}, "description"),
        ({"events": ["order.delivered"]}, "url"),
        ({"url": "http://example.com/hook"}, "events"),
        (
            {
                "url": "http://example.com/hook",
                "events": ["order.delivered"],
                "event_types": ["order.created"],
            },
            "events",
        ),
        ({"url": "http://example.com/hook", "event_types": ["order.exploded"]}, "event_types.0"),
    ],
)
def test_register_refuses_invalid_input(client, world, sql, body, field):
    response = client.post("/admin/webhooks", json=body, headers=world.admin.headers)
    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert count(sql, "webhooks") == 0


def test_event_types_is_another_name_for_events(client, world, sql):
    response = client.post(
        "/admin/webhooks",
        json={"url": "http://example.com/hook", "event_types": ["order.delivered", "order.cancelled"]},
        headers=world.admin.headers,
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["webhook"]["events"] == ["order.delivered", "order.cancelled"]
    assert sql("SELECT events FROM webhooks", one=True)["events"] == "order.delivered,order.cancelled"


def test_register_refuses_a_body_that_is_not_json(client, world, sql):
    response = client.post(
        "/admin/webhooks", data="url=x", headers={**world.admin.headers, "Content-Type": "text/plain"}
    )
    assert_error(response, 400)
    assert count(sql, "webhooks") == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9000/hook",
        "https://[::ffff:127.0.0.1]/hook",
    ],
)
def test_private_urls_are_refused_unless_allowed(app, client, world, sql, url):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    error = assert_error(register(client, world.admin, url), 400, "url_not_allowed")
    assert "url" in error["fields"]
    assert count(sql, "webhooks") == 0
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    assert register(client, world.admin, url).status_code == 201


def test_public_address_is_accepted_when_private_ones_are_refused(app, client, world):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    hook = registered(client, world.admin, "https://93.184.216.34/hooks")
    assert hook["url"] == "https://93.184.216.34/hooks"


def test_delete_keeps_the_row_and_drops_queued_deliveries(client, world, sql, receiver):
    hook = registered(client, world.admin, receiver.url)
    queued = client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
    assert queued.status_code == 202, queued.get_json()
    response = client.delete(f"/admin/webhooks/{hook['webhook_id']}", headers=world.admin.headers)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Webhook deleted", "webhook_id": hook["webhook_id"]}
    assert_documented(response.get_json(), "DeletedWebhook")
    row = webhook_row(sql, hook["webhook_id"])
    assert row is not None and row["deleted_at"] is not None
    notification = sql("SELECT * FROM notifications WHERE webhook_id = %s", (hook["webhook_id"],), one=True)
    assert notification["status"] == "failed" and notification["last_error"] == "endpoint deleted"
    # Gone for the API: 404 everywhere, also a second delete.
    for method, suffix in [("get", ""), ("delete", ""), ("post", "/enable"), ("post", "/test")]:
        again = getattr(client, method)(
            f"/admin/webhooks/{hook['webhook_id']}{suffix}", headers=world.admin.headers
        )
        assert_error(again, 404, "webhook_not_found")
    assert worker.drain(client.application) == 0
    assert receiver.requests == []


@pytest.mark.parametrize(
    "method, suffix", [("get", ""), ("delete", ""), ("post", "/enable"), ("post", "/test")]
)
def test_unknown_webhook_is_404(client, world, method, suffix):
    response = getattr(client, method)(f"/admin/webhooks/999999{suffix}", headers=world.admin.headers)
    assert_error(response, 404, "webhook_not_found")


ROUTES = [
    ("post", "/admin/webhooks"),
    ("get", "/admin/webhooks"),
    ("get", "/admin/webhooks/{id}"),
    ("delete", "/admin/webhooks/{id}"),
    ("post", "/admin/webhooks/{id}/enable"),
    ("post", "/admin/webhooks/{id}/test"),
]


@pytest.mark.parametrize("method, path", ROUTES)
def test_routes_need_a_token(client, world, sql, receiver, method, path):
    hook = registered(client, world.admin, receiver.url)
    path = path.format(id=hook["webhook_id"])
    body = {"url": receiver.url, "events": ["order.delivered"]} if method == "post" else None
    assert_error(getattr(client, method)(path, json=body), 401)
    bad = {"Authorization": "Bearer not-a-token"}
    assert_error(getattr(client, method)(path, json=body, headers=bad), 401)
    assert count(sql, "webhooks") == 1 and count(sql, "notifications") == 0
    assert webhook_row(sql, hook["webhook_id"])["deleted_at"] is None


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("who", ["alice", "dave"])
def test_routes_are_for_admins_only(client, world, sql, receiver, method, path, who):
    hook = registered(client, world.admin, receiver.url)
    path = path.format(id=hook["webhook_id"])
    body = {"url": receiver.url, "events": ["order.delivered"]} if method == "post" else None
    response = getattr(client, method)(path, json=body, headers=getattr(world, who).headers)
    assert_error(response, 403)
    assert count(sql, "webhooks") == 1 and count(sql, "notifications") == 0
    assert webhook_row(sql, hook["webhook_id"])["deleted_at"] is None


# --------------------------------------------------------------------------------------------
# Deliveries through the worker
# --------------------------------------------------------------------------------------------


def drain(client):
    return worker.drain(client.application)


def delivered_bodies(receiver):
    """The receiver's requests as (headers, parsed body), in delivery order."""
    requests = sorted(receiver.requests, key=lambda r: int(r["headers"]["X-Courier-Delivery"]))
    return [(r["headers"], json.loads(r["body"])) for r in requests]


def assert_signed(request, secret):
    """The request carries a fresh, valid signature over its exact body; tampering and replays fail."""
    headers, body = request["headers"], request["body"]
    signature = headers["X-Courier-Signature"]
    timestamp = int(headers["X-Courier-Timestamp"])
    assert signature.startswith(f"t={timestamp},v1=")
    assert abs(time.time() - timestamp) < 60
    assert webhooks.verify(secret, signature, body)
    assert not webhooks.verify(secret, signature, body.replace(b'"type"', b'"typE"'))
    assert not webhooks.verify(secret, signature, body, now=timestamp + 360)  # a 6-minute-old replay
    assert not webhooks.verify("whsec_" + "x" * 43, signature, body)


def test_order_events_are_delivered_signed_with_public_fields_only(client, world, orders, sql, receiver):
    hook = registered(client, world.admin, receiver.url, ALL_ORDER_EVENTS)
    other = registered(client, world.admin, receiver.url.replace("courier", "issues"), ["issue.answered"])
    order = orders.place(
        world.alice,
        recipient_name="Rita Secretname",
        delivery_address="77 Hidden Lane",
        recipient_phone="+4915550",
    )
    oid = order["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up", "In Transit", location="Depot North")
    moved = client.patch(
        "/delivery/update-location",
        json={"order_id": oid, "latitude": 48.137154, "longitude": 11.576124},
        headers=world.dave.headers,
    )
    assert moved.status_code == 200, moved.get_json()
    orders.move(world.dave, oid, "Out for Delivery", "Failed Attempt", "Returned")
    expected = [
        "order.assigned",
        "order.picked_up",
        "order.in_transit",
        "order.out_for_delivery",
        "order.failed_attempt",
        "order.returned",
    ]
    rows = sql("SELECT * FROM notifications WHERE channel = 'webhook' ORDER BY notification_id")
    assert [row["event_type"] for row in rows] == expected
    assert {row["webhook_id"] for row in rows} == {hook["webhook_id"]}  # `other` did not subscribe
    assert all(row["status"] == "pending" and row["give_up_at"] is not None for row in rows)

    assert drain(client) == len(expected)
    bodies = delivered_bodies(receiver)
    assert [body["type"] for _, body in bodies] == expected
    tracking = order["tracking_number"]
    for (headers, body), row, request in zip(
        bodies,
        rows,
        sorted(receiver.requests, key=lambda r: int(r["headers"]["X-Courier-Delivery"])),
        strict=True,
    ):
        assert set(body) == {"event_id", "type", "timestamp", "order"}
        assert body["event_id"] == row["event_id"] and len(body["event_id"]) == 32
        assert (
            headers["X-Courier-Event"] == body["type"] and headers["X-Courier-Event-Id"] == body["event_id"]
        )
        assert headers["X-Courier-Delivery"] == str(row["notification_id"])
        assert headers["Content-Type"] == "application/json" and headers["User-Agent"].startswith("Courier")
        assert request["path"] == "/hooks/courier?src=test"
        assert request["body"] == row["payload"].encode()  # the stored bytes, exactly
        assert_signed(request, hook["secret"])
        event = sql(
            "SELECT created_at, status FROM order_events WHERE event_id = %s",
            (row["order_event_id"],),
            one=True,
        )
        assert body["timestamp"] == event["created_at"].isoformat(timespec="milliseconds") + "Z"
        public = body["order"]
        assert public["tracking_number"] == tracking and public["status"] == event["status"]
        assert public["tracking_url"] == f"{client.application.config['PUBLIC_BASE_URL']}/t/{tracking}"
        assert public["created_at"].endswith("Z") and public["updated_at"].endswith("Z")
        assert set(public) <= {
            "tracking_number",
            "status",
            "location",
            "created_at",
            "updated_at",
            "tracking_url",
            "reason",
        }
    assert bodies[2][1]["order"]["location"] == "Depot North"
    assert bodies[4][1]["order"]["reason"] == "recipient_unavailable"

    # No personal data: names, addresses, phone, emails, coordinates, or the order's internal id.
    everything = b"".join(r["body"] for r in receiver.requests).decode()
    for secret_text in [
        "Rita",
        "Secretname",
        "Hidden Lane",
        "4915550",
        world.alice.login,
        world.dave.login,
        world.dave.name,
        world.alice.name,
        "137154",
        "576124",
        "latitude",
        "longitude",
        "order_id",
        "customer",
    ]:
        assert secret_text not in everything, secret_text

    stored = sql(
        "SELECT status, attempts, last_status_code, sent_at FROM notifications WHERE channel = 'webhook'"
    )
    assert all(r["status"] == "sent" and r["attempts"] == 1 and r["last_status_code"] == 200 for r in stored)
    assert [r["status_code"] for r in sql("SELECT status_code FROM notification_attempts")] == [200] * len(
        expected
    )
    endpoint = webhook_row(sql, hook["webhook_id"])
    assert endpoint["last_success_at"] is not None and endpoint["consecutive_failures"] == 0

    answer = client.get(f"/admin/webhooks/{hook['webhook_id']}", headers=world.admin.headers).get_json()
    assert_documented(answer, "WebhookResult")
    detail = answer["webhook"]
    assert [d["event_type"] for d in detail["deliveries"]] == expected[::-1]  # newest first
    assert all(
        d["status"] == "sent" and [a["status_code"] for a in d["attempts_log"]] == [200]
        for d in detail["deliveries"]
    )
    assert (
        client.get(f"/admin/webhooks/{other['webhook_id']}", headers=world.admin.headers).get_json()[
            "webhook"
        ]["deliveries"]
        == []
    )
    assert drain(client) == 0 and len(receiver.requests) == len(expected)  # nothing is sent twice


def test_issue_answer_is_delivered_without_its_text(client, world, orders, sql, receiver):
    hook = registered(client, world.admin, receiver.url, ["issue.answered"])
    order = orders.place(world.alice)
    raised = client.post(
        "/raise-issue",
        json={"message": "My neighbour Hans took it", "order_id": order["order_id"]},
        headers=world.alice.headers,
    )
    assert raised.status_code == 201
    issue_id = raised.get_json()["issue"]["issue_id"]
    answered = client.patch(
        "/admin/issues",
        json={"issue_id": issue_id, "response": "Call Frieda", "status": "Resolved"},
        headers=world.admin.headers,
    )
    assert answered.status_code == 200
    assert drain(client) == 1
    [request] = receiver.requests
    body = json.loads(request["body"])
    assert body["type"] == "issue.answered" and set(body) == {"event_id", "type", "timestamp", "issue"}
    assert body["issue"] == {
        "issue_id": issue_id,
        "status": "Resolved",
        "tracking_number": order["tracking_number"],
    }
    assert b"Hans" not in request["body"] and b"Frieda" not in request["body"]
    assert_signed(request, hook["secret"])


def test_failures_are_retried_with_fresh_signatures(client, world, sql, receiver, monkeypatch):
    # A clock that moves on a second per delivery: each attempt is signed with a new timestamp.
    start, tick = time.time(), iter(range(100))
    monkeypatch.setattr(webhooks, "clock", lambda: start + next(tick))
    hook = registered(client, world.admin, receiver.url)
    receiver.fail(2)
    queued = client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
    assert queued.status_code == 202
    notification = queued.get_json()["notification"]
    assert notification["status"] == "pending" and notification["webhook_id"] == hook["webhook_id"]
    nid = notification["notification_id"]
    row = sql(
        "SELECT TIMESTAMPDIFF(MINUTE, created_at, give_up_at) AS minutes FROM notifications WHERE notification_id = %s",
        (nid,),
        one=True,
    )
    assert row["minutes"] == 24 * 60  # retried for up to WEBHOOK_RETRY_HOURS

    statuses = []
    for _ in range(3):
        assert drain(client) == 1
        statuses.append(
            sql("SELECT status FROM notifications WHERE notification_id = %s", (nid,), one=True)["status"]
        )
    assert statuses == ["pending", "pending", "sent"]
    attempts = sql(
        "SELECT attempt, ok, status_code, error FROM notification_attempts WHERE notification_id = %s ORDER BY attempt_id",
        (nid,),
    )
    assert [(a["attempt"], a["ok"], a["status_code"]) for a in attempts] == [
        (1, 0, 500),
        (2, 0, 500),
        (3, 1, 200),
    ]
    assert "500" in attempts[0]["error"] and attempts[2]["error"] is None
    final = sql("SELECT * FROM notifications WHERE notification_id = %s", (nid,), one=True)
    assert final["attempts"] == 3 and final["last_status_code"] == 200 and final["sent_at"] is not None

    assert len(receiver.requests) == 3
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1  # the same stored bytes every time
    stamps = [int(r["headers"]["X-Courier-Timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert len({r["headers"]["X-Courier-Signature"] for r in receiver.requests}) == 3
    assert len({r["headers"]["X-Courier-Delivery"] for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert_signed(request, hook["secret"])

    endpoint = webhook_row(sql, hook["webhook_id"])
    assert endpoint["consecutive_failures"] == 0 and endpoint["last_failure_at"] is not None
    assert endpoint["last_success_at"] is not None and endpoint["disabled_at"] is None
    answer = client.get(f"/admin/webhooks/{hook['webhook_id']}", headers=world.admin.headers).get_json()
    assert_documented(answer, "WebhookResult")
    detail = answer["webhook"]
    assert [a["status_code"] for a in detail["deliveries"][0]["attempts_log"]] == [500, 500, 200]


def test_timeouts_refused_connections_and_redirects_are_failures(client, world, sql, receiver):
    import socket

    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    closed_port = spare.getsockname()[1]
    spare.close()  # nothing listens there any more
    hanging = registered(client, world.admin, receiver.url)
    refused = registered(client, world.admin, f"http://127.0.0.1:{closed_port}/hook")
    receiver.hang(1, seconds=5)
    for hook in (hanging, refused):
        assert (
            client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers).status_code
            == 202
        )
    started = time.monotonic()
    assert drain(client) == 2
    assert time.monotonic() - started < 4  # WEBHOOK_TIMEOUT_SECONDS=1 cut the hanging receiver off
    by_hook = {
        r["webhook_id"]: r
        for r in sql(
            "SELECT n.webhook_id, n.status, a.status_code, a.error FROM notifications n"
            " JOIN notification_attempts a USING (notification_id)"
        )
    }
    assert (
        by_hook[hanging["webhook_id"]]["status"] == "pending"
        and by_hook[hanging["webhook_id"]]["status_code"] is None
    )
    assert "timed out" in by_hook[hanging["webhook_id"]]["error"]
    assert (
        by_hook[refused["webhook_id"]]["status_code"] is None
        and "refused" in by_hook[refused["webhook_id"]]["error"].lower()
    )


def test_redirects_are_not_followed(client, world, sql, receiver):
    hook = registered(client, world.admin, receiver.url)
    receiver.fail(1, status=302)
    client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
    assert drain(client) == 1
    row = sql("SELECT status, last_status_code, last_error FROM notifications", one=True)
    assert row["status"] == "pending" and row["last_status_code"] == 302 and "302" in row["last_error"]
    assert len(receiver.requests) == 1 and receiver.requests[0]["path"] == "/hooks/courier?src=test"


def test_a_delivery_past_its_retry_window_is_parked_as_failed(client, world, sql, receiver):
    hook = registered(client, world.admin, receiver.url)
    receiver.fail(2, status=503)
    client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
    assert drain(client) == 1
    row = sql("SELECT notification_id, status FROM notifications", one=True)
    assert row["status"] == "pending"
    sql("UPDATE notifications SET give_up_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND")
    assert drain(client) == 1
    parked = sql("SELECT * FROM notifications", one=True)
    assert parked["status"] == "failed" and parked["attempts"] == 2 and parked["last_status_code"] == 503
    assert drain(client) == 0 and len(receiver.requests) == 2
    listed = client.get(
        "/admin/notifications", query_string={"status": "failed"}, headers=world.admin.headers
    )
    assert [n["notification_id"] for n in listed.get_json()["notifications"]] == [row["notification_id"]]


def test_endpoint_is_disabled_after_consecutive_failures_and_can_be_enabled(
    app, client, world, orders, sql, receiver, caplog
):
    app.config["WEBHOOK_DISABLE_AFTER"] = 3
    hook = registered(client, world.admin, receiver.url, ["order.assigned", "order.cancelled"])
    hid = hook["webhook_id"]
    receiver.fail(100)
    for _ in range(3):
        assert client.post(f"/admin/webhooks/{hid}/test", headers=world.admin.headers).status_code == 202
    with caplog.at_level("WARNING", logger="courier.webhooks"):
        assert drain(client) == 3
    assert any("disabled" in message for message in caplog.messages)
    endpoint = webhook_row(sql, hid)
    assert endpoint["disabled_at"] is not None and endpoint["consecutive_failures"] == 3
    shown = client.get(f"/admin/webhooks/{hid}", headers=world.admin.headers).get_json()["webhook"]
    assert (
        shown["enabled"] is False and shown["disabled_at"] is not None and shown["consecutive_failures"] == 3
    )

    # Disabled: no new deliveries are queued, queued retries are not sent, and /test answers 409.
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    assert count(sql, "notifications", "webhook_id = %s AND event_type = 'order.assigned'", (hid,)) == 0
    assert drain(client) == 3
    assert len(receiver.requests) == 3
    stopped = sql("SELECT status, last_error FROM notifications WHERE webhook_id = %s", (hid,))
    assert stopped == [{"status": "failed", "last_error": "endpoint disabled"}] * 3
    assert webhook_row(sql, hid)["consecutive_failures"] == 3  # refusals are not counted as failures
    assert_error(
        client.post(f"/admin/webhooks/{hid}/test", headers=world.admin.headers), 409, "webhook_disabled"
    )
    assert count(sql, "notifications", "webhook_id = %s", (hid,)) == 3

    enabled = client.post(f"/admin/webhooks/{hid}/enable", headers=world.admin.headers)
    assert enabled.status_code == 200
    assert enabled.get_json()["message"] == "Webhook enabled"
    assert_documented(enabled.get_json(), "WebhookResult")
    shown = enabled.get_json()["webhook"]
    assert shown["enabled"] is True and shown["disabled_at"] is None and shown["consecutive_failures"] == 0
    assert "secret" not in shown
    assert webhook_row(sql, hid)["disabled_at"] is None

    receiver.plan.clear()
    cancelled = client.post(f"/customer/cancel-order/{order['order_id']}", headers=world.alice.headers)
    assert cancelled.status_code == 200, cancelled.get_json()
    assert drain(client) == 1
    assert json.loads(receiver.requests[-1]["body"])["type"] == "order.cancelled"
    endpoint = webhook_row(sql, hid)
    assert endpoint["last_success_at"] is not None and endpoint["consecutive_failures"] == 0


def test_a_success_resets_the_failure_count(app, client, world, sql, receiver):
    app.config["WEBHOOK_DISABLE_AFTER"] = 3
    hid = registered(client, world.admin, receiver.url)["webhook_id"]
    with app.app_context():
        for ok in (False, False, True, False, False):
            webhooks.record_result(hid, ok)
    endpoint = webhook_row(sql, hid)
    assert endpoint["consecutive_failures"] == 2 and endpoint["disabled_at"] is None
    with app.app_context():
        webhooks.record_result(hid, False)
    assert webhook_row(sql, hid)["disabled_at"] is not None


def test_test_event_is_signed(client, world, sql, receiver):
    hook = registered(client, world.admin, receiver.url, ["order.delivered"])
    queued = client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
    assert queued.status_code == 202
    assert queued.get_json()["message"] == "Test event queued"
    assert_documented(queued.get_json(), "NotificationResult")
    notification = queued.get_json()["notification"]
    assert notification["event_type"] == "webhook.test" and notification["channel"] == "webhook"
    assert drain(client) == 1
    [request] = receiver.requests
    body = json.loads(request["body"])
    assert body["type"] == "webhook.test" and body["event_id"] == notification["event_id"]
    assert body["webhook"] == {"webhook_id": hook["webhook_id"]} and body["timestamp"].endswith("Z")
    assert request["headers"]["X-Courier-Event"] == "webhook.test"
    assert_signed(request, hook["secret"])
    assert sql("SELECT status FROM notifications", one=True)["status"] == "sent"


def test_private_addresses_are_refused_at_delivery_time(app, client, world, sql, receiver):
    hook = registered(client, world.admin, receiver.url)  # allowed when it was registered
    client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    assert drain(client) == 1
    assert receiver.requests == []
    attempt = sql("SELECT ok, status_code, error FROM notification_attempts", one=True)
    assert attempt["ok"] == 0 and attempt["status_code"] is None and "private" in attempt["error"]


def test_a_deleted_endpoint_gets_nothing_already_claimed(client, world, sql, receiver):
    hook = registered(client, world.admin, receiver.url)
    client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
    # Deleted behind the API's back (as if while a worker held the row): delivery refuses for good.
    sql("UPDATE webhooks SET deleted_at = UTC_TIMESTAMP(6)")
    assert drain(client) == 1
    row = sql("SELECT status, last_error FROM notifications", one=True)
    assert row == {"status": "failed", "last_error": "endpoint deleted"}
    assert receiver.requests == []


def test_the_receiver_in_the_docs_verifies_real_deliveries(client, world, sql):
    """docs/webhooks.md's Python receiver accepts our signed deliveries and refuses them with another secret."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    serve = 'HTTPServer(("0.0.0.0", 8000), Receiver).serve_forever()'
    assert serve in code
    namespace = {}
    exec(code.replace(serve, ""), namespace)  # the documented code, as a reader would copy it
    server = ThreadingHTTPServer(("127.0.0.1", 0), namespace["Receiver"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        hook = registered(client, world.admin, url)
        for secret, expected in [("whsec_wrong", (400, "pending")), (hook["secret"], (204, "sent"))]:
            namespace["SECRET"] = secret
            sql("DELETE FROM notification_attempts")
            sql("DELETE FROM notifications")
            client.post(f"/admin/webhooks/{hook['webhook_id']}/test", headers=world.admin.headers)
            assert drain(client) == 1
            row = sql("SELECT last_status_code, status FROM notifications", one=True)
            assert (row["last_status_code"], row["status"]) == expected
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
