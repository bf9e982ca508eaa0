"""No unauthenticated (or any) request causes a 500: deep JSON nesting, lone surrogates, a cursor of nested
lists, far-future analytics dates; bodies are validated however they arrive (chunked); gunicorn's own
refusals (headers over 8 KB) answer JSON. Each case answers a 400 JSON error naming the field."""

import base64
import http.client
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from conftest import TEST_DB, _config
from helpers import assert_error, count, order_row
from live_servers import ROOT, free_port

DEEP = "[" * 100_000
SURROGATE_NAME = (
    '{"name": "\\ud800", "email": "s@example.com", "password": "password123", "address": "1 Road"}'
)


def post_raw(client, path, text, headers=None):
    return client.post(path, data=text, content_type="application/json", headers=headers or {})


@pytest.mark.parametrize("path", ["/login", "/signup", "/customer/place-order", "/admin/webhooks"])
def test_deeply_nested_json_is_a_400_naming_the_body(client, path, world):
    headers = {"Authorization": f"Bearer {world.alice.token}"} if path.startswith("/customer") else {}
    if path.startswith("/admin"):
        headers = world.admin.headers
    response = post_raw(client, path, DEEP, headers)
    body = assert_error(response, 400)
    assert "body" in body.get("fields", {})


def test_lone_surrogates_are_400s_naming_the_field(client, world, sql):
    cases = [
        ("/signup", SURROGATE_NAME, {}, "name"),
        ("/login", '{"email": "\\ud800@example.com", "password": "password123"}', {}, "email"),
        ("/login", '{"email": "a@example.com", "password": "pass\\ud800word"}', {}, "password"),
        (
            "/customer/place-order",
            '{"delivery_address": "1 Road", "recipient_name": "R\\ud800"}',
            world.alice.headers,
            "recipient_name",
        ),
        ("/raise-issue", '{"message": "help \\udfff"}', world.alice.headers, "message"),
    ]
    for path, text, headers, field in cases:
        body = assert_error(post_raw(client, path, text, headers), 400, "invalid_fields")
        assert field in body["fields"], (path, body)
    assert count(sql, "customers", "email = %s", ("s@example.com",)) == 0
    assert count(sql, "orders") == 0
    assert count(sql, "issues") == 0


def test_a_cursor_of_nested_lists_is_a_400_naming_the_cursor(client, world):
    cursor = base64.urlsafe_b64encode(("[" * 2500).encode()).decode().rstrip("=")
    response = client.get(f"/admin/users?cursor={cursor}", headers=world.admin.headers)
    body = assert_error(response, 400, "invalid_cursor")
    assert "cursor" in body["fields"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("from=9999-12-01&to=9999-12-31", "from"),
        ("to=9999-12-31", "to"),
        ("to=0001-01-05", "to"),
        ("from=0001-01-01&to=0001-01-02", "from"),
    ],
)
def test_analytics_dates_out_of_the_databases_range_are_400s(client, world, query, field):
    body = assert_error(client.get(f"/admin/analytics?{query}", headers=world.admin.headers), 400)
    assert field in body["fields"]


def test_analytics_latest_allowed_date_still_answers(client, world):
    response = client.get("/admin/analytics?from=9998-12-01&to=9998-12-31", headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()


def test_a_chunked_body_on_an_optional_body_route_is_validated(client, world, orders, sql):
    order = orders.place(world.alice)
    response = client.post(
        f"/admin/cancel-order/{order['order_id']}",
        input_stream=__import__("io").BytesIO(b'{"reason": 12345}'),
        headers={**world.admin.headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    body = assert_error(response, 400, "invalid_fields")
    assert "reason" in body["fields"]
    assert order_row(sql, order["order_id"])["status"] == "Pending"


# --- the production server: gunicorn with gevent workers ---


@contextmanager
def gunicorn(tmp_path):
    port = free_port()
    config = _config()
    env = {
        **os.environ,
        "MYSQL_DB": TEST_DB,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "JWT_SECRET_KEY": config["JWT_SECRET_KEY"],
        "BCRYPT_LOG_ROUNDS": "4",
        "DB_POOL_SIZE": "5",
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail((tmp_path / "gunicorn.log").read_text())
                time.sleep(0.2)
            finally:
                conn.close()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_under_gunicorn_chunked_bodies_are_validated_and_oversized_headers_answer_json(
    tmp_path, world, orders, sql
):
    order = orders.place(world.alice)

    def answer(conn):
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
        return response, body

    with gunicorn(tmp_path) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "POST",
            f"/admin/cancel-order/{order['order_id']}",
            body=iter([b'{"reason": ', b"12345}"]),
            headers={**world.admin.headers, "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response, body = answer(conn)
        assert response.status == 400, body
        assert "reason" in body["fields"]
        assert order_row(sql, order["order_id"])["status"] == "Pending"

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/login", body=DEEP.encode(), headers={"Content-Type": "application/json"})
        response, body = answer(conn)
        assert response.status == 400 and "body" in body["fields"], body

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/healthz", headers={"X-Big": "x" * 9000})
        response, body = answer(conn)
        assert response.status == 431
        assert response.getheader("Content-Type") == "application/json"
        assert body["code"] == "request_header_fields_too_large" and body["error"]
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Traceback" not in log, log
