"""GET /metrics (Prometheus text, parsed with prometheus-client's own parser) and the worker's metrics port."""

import socket
import threading
import urllib.request

import pytest
from helpers import assert_error
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from courier import metrics, worker

TOKEN = "metrics-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metrics_client(app):
    app.config["METRICS_TOKEN"] = TOKEN
    return app.test_client()


def scrape(client):
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    return parse(response.get_data(as_text=True))


def parse(text):
    """{(sample name, frozenset of labels): value} of every sample."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def test_metrics_is_off_without_a_token(client):
    assert_error(client.get("/metrics"), 404, "not_found")
    assert_error(client.get("/metrics", headers=BEARER), 404, "not_found")


def test_metrics_needs_the_token(metrics_client, world):
    assert_error(metrics_client.get("/metrics"), 401, "invalid_metrics_token")
    assert_error(
        metrics_client.get("/metrics", headers={"Authorization": "Bearer wrong"}),
        401,
        "invalid_metrics_token",
    )
    assert_error(
        metrics_client.get("/metrics", headers={"Authorization": TOKEN}), 401, "invalid_metrics_token"
    )
    # A user's access token is not the metrics token, whatever the role.
    assert_error(metrics_client.get("/metrics", headers=world.admin.headers), 401, "invalid_metrics_token")


def test_metrics_is_read_only_and_not_counted_as_a_request(metrics_client):
    assert_error(metrics_client.post("/metrics", headers=BEARER), 405, "method_not_allowed")
    scrape(metrics_client)
    samples = scrape(metrics_client)
    assert not [key for key in samples if dict(key[1]).get("route") == "/metrics"]


def test_requests_are_counted_by_route_and_status(metrics_client, world):
    before = scrape(metrics_client)
    labels = {"method": "GET", "route": "/customer/track-order/<int:order_id>", "status": "404"}
    count_before = value(before, "courier_http_requests_total", **labels) or 0
    for _ in range(3):
        metrics_client.get("/customer/track-order/999999", headers=world.alice.headers)
    metrics_client.get("/no/such/page")
    after = scrape(metrics_client)
    assert value(after, "courier_http_requests_total", **labels) == count_before + 3
    assert value(after, "courier_http_request_duration_seconds_count", **labels) == count_before + 3
    assert (
        value(after, "courier_http_request_duration_seconds_bucket", **labels, le="+Inf") == count_before + 3
    )
    assert value(after, "courier_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    # The database pool: the size of this app's pool, nothing held between requests.
    assert value(after, "courier_db_pool_size") == 20
    assert value(after, "courier_db_pool_connections_in_use") == 0
    assert value(after, "courier_metrics_database_up") == 1


def test_outbox_depth_and_oldest_pending_age(metrics_client, sql):
    for channel, status, age in [("email", "pending", 90), ("email", "pending", 5), ("sms", "failed", 1)]:
        sql(
            "INSERT INTO notifications (channel, event_type, event_id, recipient, payload, status, created_at)"
            " VALUES (%s, 'order.created', REPLACE(UUID(), '-', ''), 'x@example.test', '{}', %s,"
            " UTC_TIMESTAMP(6) - INTERVAL %s SECOND)",
            (channel, status, age),
        )
    samples = scrape(metrics_client)
    assert value(samples, "courier_outbox_messages", channel="email", status="pending") == 2
    assert value(samples, "courier_outbox_messages", channel="sms", status="failed") == 1
    assert value(samples, "courier_outbox_messages", channel="webhook", status="pending") == 0
    assert 90 <= value(samples, "courier_outbox_oldest_pending_age_seconds", channel="email") < 150
    assert value(samples, "courier_outbox_oldest_pending_age_seconds", channel="sms") == 0


def test_couriers_with_an_open_order_and_no_recent_position_are_stale(metrics_client, world, orders, sql):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    samples = scrape(metrics_client)
    assert value(samples, "courier_couriers_active") == 1  # erin has no order
    assert value(samples, "courier_couriers_stale_position") == 1  # dave never sent a position
    response = metrics_client.patch(
        "/delivery/update-location", json={"latitude": 51.5, "longitude": -0.12}, headers=world.dave.headers
    )
    assert response.status_code == 200, response.get_json()
    assert value(scrape(metrics_client), "courier_couriers_stale_position") == 0
    sql(
        "UPDATE delivery_persons SET position_at = UTC_TIMESTAMP(6) - INTERVAL 301 SECOND"
        " WHERE delivery_person_id = %s",
        (world.dave.id,),
    )
    assert value(scrape(metrics_client), "courier_couriers_stale_position") == 1


def test_couriers_on_shift_without_a_recent_position_are_stale(metrics_client, world):
    samples = scrape(metrics_client)
    assert value(samples, "courier_couriers_on_shift") == 0
    assert value(samples, "courier_couriers_stale_position") == 0
    assert metrics_client.post("/delivery/shift/start", headers=world.erin.headers).status_code == 200
    samples = scrape(metrics_client)
    assert value(samples, "courier_couriers_on_shift") == 1
    assert value(samples, "courier_couriers_active") == 0  # on shift, but carrying nothing
    assert value(samples, "courier_couriers_stale_position") == 1  # erin has not pinged
    pinged = metrics_client.patch(
        "/delivery/update-location", json={"latitude": 51.5, "longitude": -0.12}, headers=world.erin.headers
    )
    assert pinged.status_code == 200, pinged.get_json()
    assert value(scrape(metrics_client), "courier_couriers_stale_position") == 0
    assert metrics_client.post("/delivery/shift/end", headers=world.erin.headers).status_code == 200
    assert value(scrape(metrics_client), "courier_couriers_on_shift") == 0


def test_late_risk_orders_are_counted(metrics_client, world, orders, sql):
    open_order = orders.place(world.alice)["order_id"]
    closed = orders.place(world.alice)["order_id"]
    assert value(scrape(metrics_client), "courier_orders_late_risk") == 0
    sql("UPDATE orders SET late_risk = 1 WHERE order_id IN (%s, %s)", (open_order, closed))
    sql("UPDATE orders SET closed_at = UTC_TIMESTAMP(6) WHERE order_id = %s", (closed,))
    assert value(scrape(metrics_client), "courier_orders_late_risk") == 1


def test_open_live_streams_are_counted(metrics_client, world, orders):
    order = orders.place(world.alice)
    path = f"/customer/track-order/{order['order_id']}/events"
    before = REGISTRY.get_sample_value("courier_live_streams_open")
    response = metrics_client.get(path, headers=world.alice.headers, buffered=False)
    assert response.status_code == 200
    stream = response.response
    next(iter(stream))  # the retry: line; the stream is now open
    assert REGISTRY.get_sample_value("courier_live_streams_open") == before + 1
    assert value(scrape(metrics_client), "courier_live_streams_open") == before + 1
    response.close()
    assert REGISTRY.get_sample_value("courier_live_streams_open") == before


def test_pool_waits_are_counted(app):
    app.config["METRICS_TOKEN"] = TOKEN
    pool = app.extensions["db_pool"]
    waits_before = REGISTRY.get_sample_value("courier_db_pool_waits_total")
    held = [pool.connection() for _ in range(pool.size)]
    assert REGISTRY.get_sample_value("courier_db_pool_connections_in_use") == len(held)
    waiting = threading.Event()
    got = []

    def take():
        waiting.set()
        conn = pool.connection()
        got.append(conn)
        conn.close()

    thread = threading.Thread(target=take)
    thread.start()
    waiting.wait(5)
    # Give one connection back once the thread blocks on the pool's condition (no fixed sleep).
    for _ in range(500):
        if pool._slots._cond._waiters:
            break
        thread.join(0.01)
    held.pop().close()
    thread.join(5)
    assert got and not thread.is_alive()
    for conn in held:
        conn.close()
    assert REGISTRY.get_sample_value("courier_db_pool_waits_total") == waits_before + 1
    assert REGISTRY.get_sample_value("courier_db_pool_connections_in_use") == 0


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_worker_metrics_on_their_port(app, client, world):
    url = f"http://127.0.0.1:{closed_port()}/hook"
    created = client.post(
        "/admin/webhooks", json={"url": url, "events": ["order.created"]}, headers=world.admin.headers
    )
    assert created.status_code == 201, created.get_json()
    webhook_id = created.get_json()["webhook"]["webhook_id"]
    failures_before = REGISTRY.get_sample_value(
        "courier_webhook_delivery_failures_total", {"webhook_id": str(webhook_id)}
    )
    assert failures_before is None  # a new endpoint id
    queued = client.post(f"/admin/webhooks/{webhook_id}/test", headers=world.admin.headers)
    assert queued.status_code == 202, queued.get_json()
    assert worker.drain(app) == 1

    port = closed_port()
    app.config.update(WORKER_METRICS_PORT=port, WORKER_METRICS_HOST="127.0.0.1")
    server = metrics.serve_worker_metrics(app)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            samples = parse(response.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    assert value(samples, "courier_webhook_delivery_failures_total", webhook_id=str(webhook_id)) == 1
    assert value(samples, "courier_worker_deliveries_total", channel="webhook", result="error") >= 1
    assert value(samples, "courier_worker_delivery_duration_seconds_count", channel="webhook") >= 1
    assert value(samples, "courier_webhook_consecutive_failures", webhook_id=str(webhook_id)) == 1
    assert value(samples, "courier_webhook_disabled", webhook_id=str(webhook_id)) == 0
    assert value(samples, "courier_outbox_messages", channel="webhook", status="pending") == 1  # to retry


def test_worker_metrics_port_is_off_by_default(app):
    assert app.config["WORKER_METRICS_PORT"] == 0
    assert metrics.serve_worker_metrics(app) is None
