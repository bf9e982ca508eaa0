"""Prometheus metrics: GET /metrics on the API (behind METRICS_TOKEN), and the worker's own on a port.

Counters and histograms live in each process. Under gunicorn every worker is a process of its own, so
gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers import this module:
prometheus-client then keeps each value in a file per process, and a scrape of any worker adds them all up.
What lives in the database (the outbox, webhooks, couriers) is read once per scrape by DatabaseCollector.
"""

import hmac
import logging
import os
import time

import pymysql
from flask import Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from . import db
from .errors import ApiError, error_response, unauthorized

log = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
OUTBOX_STATUSES = ("pending", "sending", "failed")  # 'sent' rows are history, not depth
CHANNELS = ("email", "sms", "webhook")

# --- the API processes ---------------------------------------------------------------------------------
REQUESTS = Counter(
    "courier_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "courier_http_request_duration_seconds",
    "Time from the request's start to its response (a stream: until its first byte), by route and status",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
POOL_IN_USE = Gauge(
    "courier_db_pool_connections_in_use",
    "Database connections taken from the pools (summed over live processes)",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "courier_db_pool_size",
    "Largest number of connections the pools may open (DB_POOL_SIZE summed over live processes)",
    multiprocess_mode="livesum",
)
POOL_WAITS = Counter(
    "courier_db_pool_waits_total", "Checkouts that found every pooled connection in use and had to wait"
)
POOL_WAIT_SECONDS = Counter(
    "courier_db_pool_wait_seconds_total", "Time spent in those waits for a pooled connection"
)
LIVE_STREAMS = Gauge(
    "courier_live_streams_open",
    "Server-Sent Events streams open now (summed over live processes)",
    multiprocess_mode="livesum",
)

# --- the notification worker ---------------------------------------------------------------------------
DELIVERIES = Counter(
    "courier_worker_deliveries_total",
    "Delivery attempts by channel and result (ok, error)",
    ["channel", "result"],
)
DELIVERY_SECONDS = Histogram(
    "courier_worker_delivery_duration_seconds",
    "Time one delivery attempt took, by channel",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_FAILURES = Counter(
    "courier_webhook_delivery_failures_total",
    "Failed webhook delivery attempts, by endpoint (webhook_id)",
    ["webhook_id"],
)
WORKER_LAST_POLL = Gauge(
    "courier_worker_last_poll_timestamp_seconds",
    "When the worker last polled the outbox (Unix time); stale means the worker is stuck",
    multiprocess_mode="max",
)


# --- what the database holds, read at scrape time ------------------------------------------------------
OUTBOX_SQL = (
    "SELECT channel, status, COUNT(*) AS n FROM notifications WHERE status IN (%s, %s, %s)"
    " GROUP BY channel, status"
)
OLDEST_PENDING_SQL = (
    "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)) / 1e6 AS age FROM notifications"
    " WHERE status = 'pending' AND channel = %s ORDER BY notification_id LIMIT 1"
)
WEBHOOKS_SQL = (
    "SELECT webhook_id, consecutive_failures, disabled_at IS NOT NULL AS disabled FROM webhooks"
    " WHERE deleted_at IS NULL ORDER BY webhook_id LIMIT 1000"
)
# Couriers at work: on shift (POST /delivery/shift/start) or carrying an open order; "stale" ones of those sent
# no position for STALE_PING_SECONDS.
COURIERS_SQL = (
    "SELECT COALESCE(SUM(busy), 0) AS active, COALESCE(SUM(on_shift), 0) AS on_shift,"
    " COALESCE(SUM(position_at IS NULL OR position_at < UTC_TIMESTAMP(6) - INTERVAL %s SECOND), 0) AS stale"
    " FROM (SELECT d.position_at, d.on_shift_since IS NOT NULL AS on_shift, EXISTS"
    " (SELECT 1 FROM orders o WHERE o.assigned_to = d.delivery_person_id AND o.closed_at IS NULL) AS busy"
    " FROM delivery_persons d WHERE d.deleted_at IS NULL) AS c WHERE on_shift OR busy"
)


# Late-risk orders (courier.eta): few rows carry the flag, and ix_orders_late_risk finds them.
LATE_RISK_SQL = "SELECT COUNT(*) AS n FROM orders WHERE late_risk = 1 AND closed_at IS NULL"


class DatabaseCollector:
    """Gauges read from the database at each scrape; `courier_metrics_database_up` 0 when it cannot."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        up = GaugeMetricFamily(
            "courier_metrics_database_up", "1 when the database answered this scrape's queries"
        )
        try:
            with self.app.app_context():
                families = self._read()
        except pymysql.err.Error as err:
            log.warning("metrics: database queries failed: %s", err)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self):
        stale_after = int(self.app.config["STALE_PING_SECONDS"])
        depth = GaugeMetricFamily(
            "courier_outbox_messages",
            "Notifications not yet delivered, by channel and status (pending, sending, failed)",
            labels=["channel", "status"],
        )
        counts = {(c, s): 0 for c in CHANNELS for s in OUTBOX_STATUSES}
        for row in db.query(OUTBOX_SQL, OUTBOX_STATUSES):
            counts[(row["channel"], row["status"])] = int(row["n"])
        for (channel, status), n in counts.items():
            depth.add_metric([channel, status], n)
        oldest = GaugeMetricFamily(
            "courier_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending notification, by channel (0: none pending)",
            labels=["channel"],
        )
        for channel in CHANNELS:
            row = db.query(OLDEST_PENDING_SQL, (channel,), one=True)
            oldest.add_metric([channel], max(0.0, float(row["age"])) if row else 0.0)
        failures = GaugeMetricFamily(
            "courier_webhook_consecutive_failures",
            "Consecutive failed deliveries of each live webhook endpoint (reset by a success)",
            labels=["webhook_id"],
        )
        disabled = GaugeMetricFamily(
            "courier_webhook_disabled",
            "1 for a webhook endpoint disabled after WEBHOOK_DISABLE_AFTER consecutive failures",
            labels=["webhook_id"],
        )
        for row in db.query(WEBHOOKS_SQL):
            failures.add_metric([str(row["webhook_id"])], int(row["consecutive_failures"]))
            disabled.add_metric([str(row["webhook_id"])], int(row["disabled"]))
        row = db.query(COURIERS_SQL, (stale_after,), one=True)
        active = GaugeMetricFamily(
            "courier_couriers_active", "Couriers with at least one open (assigned, not final) order"
        )
        active.add_metric([], int(row["active"]))
        on_shift = GaugeMetricFamily("courier_couriers_on_shift", "Couriers on shift (started and not ended)")
        on_shift.add_metric([], int(row["on_shift"]))
        stale = GaugeMetricFamily(
            "courier_couriers_stale_position",
            "Couriers on shift or with an open order and no position reported for STALE_PING_SECONDS",
        )
        stale.add_metric([], int(row["stale"]))
        late = GaugeMetricFamily(
            "courier_orders_late_risk",
            "Open orders whose latest ETA passes their delivery window's end (or SLA_HOURS after placement)",
        )
        late.add_metric([], int(db.query(LATE_RISK_SQL, one=True)["n"]))
        return [depth, oldest, failures, disabled, active, on_shift, stale, late]


class _ProcessMetrics:
    """This process's own metrics (single-process mode: tests, `python app1.py`, the worker)."""

    def collect(self):
        yield from REGISTRY.collect()


def registry_for(app):
    """A registry for one scrape: every process's metrics plus the database's."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(DatabaseCollector(app))
    return registry


# --- hooks ---------------------------------------------------------------------------------------------
def _start():
    g.metrics_started = time.perf_counter()


def _finish(response):
    started = g.pop("metrics_started", None)
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    labels = (request.method, route, str(response.status_code))
    REQUESTS.labels(*labels).inc()
    if started is not None:
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
    if response.mimetype == "text/event-stream" and response.is_streamed:
        response.response = _counted_stream(response.response)
    return response


def _counted_stream(body):
    """Counts the stream as open from its first chunk until it ends or the client goes away."""
    LIVE_STREAMS.inc()
    try:
        yield from body
    finally:
        LIVE_STREAMS.dec()
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _instrument_pool(pool):
    """Count waits for a pooled connection and keep the in-use gauge current (courier.pool.Pool)."""
    take = pool.connection
    POOL_SIZE.set(pool.size)

    def connection(*args, **kwargs):
        full = pool.in_use >= pool.size
        started = time.perf_counter()
        conn = take(*args, **kwargs)
        if full:
            POOL_WAITS.inc()
            POOL_WAIT_SECONDS.inc(time.perf_counter() - started)
        POOL_IN_USE.set(pool.in_use)
        give_back = conn.close

        def close():
            give_back()
            POOL_IN_USE.set(pool.in_use)

        conn.close = close
        return conn

    pool.connection = connection


def init_app(app):
    """Time every request, count pool use and live streams, and answer GET /metrics (after db.init_app)."""
    app.before_request(_start)
    app.after_request(_finish)
    _instrument_pool(app.extensions["db_pool"])
    app.wsgi_app = MetricsEndpoint(app.wsgi_app, app)


# --- GET /metrics ----------------------------------------------------------------------------------------
class MetricsEndpoint:
    """WSGI middleware answering /metrics in front of the app's routes: an operations endpoint, not part of
    the API (no OpenAPI entry), and a scrape is not counted among the requests it reports."""

    PATH = "/metrics"

    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.PATH:
            return self.wsgi_app(environ, start_response)
        with self.app.request_context(environ):
            try:
                if request.method not in ("GET", "HEAD"):
                    raise ApiError(405, "Method not allowed", "method_not_allowed")
                authorize()
                response = exposition()
            except ApiError as err:
                response = error_response(err.status, err.message, err.code)
            return response(environ, start_response)


def authorize():
    """/metrics is off without METRICS_TOKEN (404), and takes `Authorization: Bearer <METRICS_TOKEN>`."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        raise ApiError(404, "Not found", "not_found")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise unauthorized("A valid metrics token is required", "invalid_metrics_token")


def exposition():
    """The Prometheus text of every metric."""
    body = generate_latest(registry_for(current_app._get_current_object()))
    return Response(body, content_type=CONTENT_TYPE_LATEST)


# --- the worker ------------------------------------------------------------------------------------------
def observe_delivery(row, result, duration_ms):
    """Count one delivery attempt of the worker."""
    ok = bool(result.ok)
    DELIVERIES.labels(row["channel"], "ok" if ok else "error").inc()
    DELIVERY_SECONDS.labels(row["channel"]).observe(duration_ms / 1000)
    if row["channel"] == "webhook" and not ok and row.get("webhook_id") is not None:
        WEBHOOK_FAILURES.labels(str(row["webhook_id"])).inc()


def worker_polled():
    WORKER_LAST_POLL.set(time.time())


def serve_worker_metrics(app):
    """Serve the worker's metrics on WORKER_METRICS_PORT (0: off); returns the server or None."""
    port = int(app.config["WORKER_METRICS_PORT"])
    if not port:
        return None
    from prometheus_client import start_http_server

    server, _thread = start_http_server(
        port, addr=app.config["WORKER_METRICS_HOST"], registry=registry_for(app)
    )
    log.info("worker metrics on http://%s:%s/metrics", app.config["WORKER_METRICS_HOST"], port)
    return server
