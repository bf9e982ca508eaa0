"""CORS, security headers, body size, and the JSON access log with X-Request-ID."""

import json
import logging

import pytest
from conftest import _config

from app1 import create_app

ALLOWED, OTHER = "https://app.example.com", "https://evil.example.net"


@pytest.fixture
def cors_client():
    return create_app({**_config(), "CORS_ORIGINS": f"{ALLOWED}, https://admin.example.com"}).test_client()


def test_cors_allows_only_configured_origins(cors_client):
    allowed = cors_client.get("/healthz", headers={"Origin": ALLOWED})
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    refused = cors_client.get("/healthz", headers={"Origin": OTHER})
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = cors_client.options(
        "/customer/orders",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    evil_preflight = cors_client.options(
        "/customer/orders", headers={"Origin": OTHER, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in evil_preflight.headers
    for response in (allowed, refused, preflight, evil_preflight):
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_wildcard_origin_never_comes_with_credentials():
    app = create_app({**_config(), "CORS_ORIGINS": "*"})
    wildcard = app.test_client()
    for response in (
        wildcard.get("/healthz", headers={"Origin": OTHER}),
        wildcard.options("/login", headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"}),
        wildcard.post(
            "/login", json={"email": "x@example.com", "password": "nope-nope"}, headers={"Origin": OTHER}
        ),
    ):
        # Any origin is allowed (Flask-CORS echoes it), but never with credentials.
        assert response.headers["Access-Control-Allow-Origin"] in ("*", OTHER)
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_security_headers_on_json_responses(client, auth):
    customer = auth.customer()
    for response in (
        client.get("/healthz"),
        client.get("/no/such/route"),
        client.get("/customer/orders", headers=customer.headers),
    ):
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_authenticated_and_token_responses_are_not_cached(client, auth):
    customer = auth.customer()
    assert client.get("/customer/orders", headers=customer.headers).headers["Cache-Control"] == "no-store"
    refused = client.get("/customer/orders", headers={"Authorization": "Bearer nonsense"})
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    login = auth.login(email=customer.login)
    assert login.status_code == 200 and login.headers["Cache-Control"] == "no-store"
    refresh = client.post("/refresh", headers={"Authorization": f"Bearer {customer.refresh_token}"})
    assert refresh.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/healthz").headers.get("Cache-Control", "")


def test_bodies_over_1_mib_get_413_json(client, auth, sql):
    customer = auth.customer()
    big = {"delivery_address": "x" * (1024 * 1024), "recipient_name": "K"}
    response = client.post("/customer/place-order", json=big, headers=customer.headers)
    assert response.status_code == 413
    assert response.get_json()["code"] == "body_too_large"
    assert sql("SELECT COUNT(*) AS n FROM orders", one=True)["n"] == 0
    login = client.post("/login", data=b"{" + b" " * (1024 * 1024) + b"}", content_type="application/json")
    assert login.status_code == 413
    just_under = client.post(
        "/login", data=b"{" + b" " * (1024 * 1024 - 2) + b"}", content_type="application/json"
    )
    assert just_under.status_code == 400


# --- access log --------------------------------------------------------------------------------


def access_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "courier.access"]


def test_every_request_is_one_json_line_without_secrets(client, auth, caplog):
    customer = auth.customer()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="courier.access"):
        client.get("/customer/orders?status=Pending&token=secret-in-query", headers=customer.headers)
        client.post("/login", json={"email": customer.login, "password": "wrong-password-xyz"})
        client.post(
            "/change-password",
            json={"old_password": "password123", "new_password": "s3cret-new!"},
            headers=customer.headers,
        )
        client.get("/no/such/route")
    lines = access_lines(caplog)
    assert len(lines) == 4
    assert all("\n" not in r.getMessage() for r in caplog.records if r.name == "courier.access")
    orders, login, change, missing = lines
    assert orders["method"] == "GET" and orders["path"] == "/customer/orders" and orders["status"] == 200
    assert orders["user_id"] == customer.id and orders["role"] == "customer"
    assert isinstance(orders["duration_ms"], float) and orders["duration_ms"] >= 0
    assert len(orders["request_id"]) == 32
    assert login["status"] == 401 and login["user_id"] is None
    assert change["status"] == 200 and change["user_id"] == customer.id
    assert missing["status"] == 404
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (
        customer.token,
        customer.refresh_token,
        "secret-in-query",
        "status=Pending",
        "wrong-password-xyz",
        "s3cret-new!",
        "password123",
        "Bearer",
    ):
        assert secret not in text


def test_request_id_is_generated_or_accepted_sanitised_and_returned(client, caplog):
    with caplog.at_level(logging.INFO, logger="courier.access"):
        generated = client.get("/healthz")
        given = client.get("/healthz", headers={"X-Request-ID": "abc-123_DEF.4"})
        dirty = client.get("/healthz", headers={"X-Request-ID": 'x"y\\z <script>' + "a" * 200})
        blank = client.get("/healthz", headers={"X-Request-ID": "\"'<>"})
        error = client.post(
            "/login", data="{", content_type="application/json", headers={"X-Request-ID": "e-1"}
        )
    assert len(generated.headers["X-Request-ID"]) == 32
    assert given.headers["X-Request-ID"] == "abc-123_DEF.4"
    assert dirty.headers["X-Request-ID"] == ("xyzscript" + "a" * 200)[:64]
    assert len(blank.headers["X-Request-ID"]) == 32
    assert error.status_code == 400 and error.headers["X-Request-ID"] == "e-1"
    ids = [line["request_id"] for line in access_lines(caplog)]
    assert ids == [r.headers["X-Request-ID"] for r in (generated, given, dirty, blank, error)]


@pytest.mark.parametrize(
    "errno, status, code",
    [
        (2003, 503, "database_unavailable"),  # can't connect
        (2013, 503, "database_unavailable"),  # lost connection mid-query (e.g. read timeout)
        (1213, 409, "conflict_retry"),  # deadlock: a lost race
        (1205, 409, "conflict_retry"),  # lock wait timeout
        (4025, 500, "internal_error"),  # CHECK constraint: our validation missed something, not an outage
    ],
)
def test_database_errors_map_to_honest_statuses(errno, status, code):
    import pymysql

    app = create_app(_config())

    @app.get("/boom")
    def boom():
        raise pymysql.err.OperationalError(errno, "simulated by the test")

    response = app.test_client().get("/boom")
    assert response.status_code == status
    assert response.get_json() == {"error": response.get_json()["error"], "code": code}
    assert "Traceback" not in response.get_data(as_text=True)


def test_trusted_proxy_gives_the_real_client_address(caplog):
    behind = create_app({**_config(), "TRUSTED_PROXIES": 1}).test_client()
    direct = create_app(_config()).test_client()
    headers = {"X-Forwarded-For": "203.0.113.7"}
    with caplog.at_level(logging.INFO, logger="courier.access"):
        behind.get("/healthz", headers=headers)
        direct.get("/healthz", headers=headers)
    addresses = [
        json.loads(r.getMessage())["remote_addr"] for r in caplog.records if r.name == "courier.access"
    ]
    assert addresses == ["203.0.113.7", "127.0.0.1"]


def test_password_length_counts_bytes(client, sql):
    body = {"name": "Emo", "address": "1 Way", "password": "🔒🔑"}  # 2 characters, 8 bytes
    assert client.post("/signup", json={**body, "email": "emo@example.com"}).status_code == 201
    seven = client.post("/signup", json={**body, "email": "emo2@example.com", "password": "é" * 3 + "x"})
    assert seven.status_code == 400 and "password" in seven.get_json()["fields"]
