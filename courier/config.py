"""Configuration: every setting the environment (and .env) may give, with its default, in one table."""

import logging
import os
import secrets
from datetime import timedelta

from dotenv import load_dotenv

log = logging.getLogger(__name__)
MIN_SECRET_BYTES = 32
MAX_BODY_BYTES = 1024 * 1024  # larger request bodies get 413


def boolean(text):
    """The one reading of a yes/no setting: 1, true, yes, on (any case) are yes; anything else is no."""
    return text.strip().lower() in ("1", "true", "yes", "on")


def one_of(*choices):
    """A setting that must be one of a few words; anything else stops the app at start."""

    def read(text):
        value = text.strip()
        if value not in choices:
            raise RuntimeError(f"must be one of: {', '.join(choices)} (not {value!r})")
        return value

    return read


# Every setting read from the environment (or .env): name -> (default, type). An empty value means the default.
SETTINGS = {
    "MYSQL_HOST": ("127.0.0.1", str),
    "MYSQL_PORT": (3306, int),
    "MYSQL_USER": ("root", str),
    "MYSQL_PASSWORD": ("", str),
    "MYSQL_DB": ("courier1", str),
    "MYSQL_CONNECT_TIMEOUT": (2, int),
    "MYSQL_READ_TIMEOUT": (4, int),
    # Reverse proxies in front of the app whose X-Forwarded-For / -Proto to trust (0: none)
    "TRUSTED_PROXIES": (0, int),
    "DB_POOL_SIZE": (10, int),
    # Longest a request waits for the database's first answer (a free pooled connection, connecting, the first
    # statement) before answering 503
    "DB_WAIT_SECONDS": (3.0, float),
    # Read replica for public tracking, analytics and the CSV export (empty host: every read on the primary);
    # it is skipped while it lags more than REPLICA_MAX_LAG_SECONDS, checked every REPLICA_CHECK_SECONDS
    "MYSQL_REPLICA_HOST": ("", str),
    "MYSQL_REPLICA_PORT": (3306, int),
    "REPLICA_MAX_LAG_SECONDS": (5.0, float),
    "REPLICA_CHECK_SECONDS": (1.0, float),
    "JWT_SECRET_KEY": ("", str),
    "HOST": ("127.0.0.1", str),
    "PORT": (5000, int),
    "CORS_ORIGINS": ("*", str),
    # Rate-limit storage shared by every process (e.g. redis://127.0.0.1:6379/0); empty: in memory
    "REDIS_URL": ("", str),
    "RATELIMIT_ENABLED": (True, boolean),
    # Failed logins (and failed password changes) allowed per account and per client address
    "LOGIN_LIMIT_PER_ACCOUNT": ("5 per 15 minutes", str),
    "LOGIN_LIMIT_PER_IP": ("50 per 15 minutes", str),
    "LOGIN_LIMIT_KEY_PREFIX": ("courier", str),
    # Sign-ups (POST /signup) per client address, whatever their outcome
    "SIGNUP_RATE_LIMIT": ("10 per hour", str),
    # Public tracking (GET /track/...) per client; live streams (SSE): how often each process's one reader
    # looks for new events, positions and revoked sessions, heartbeats, and the longest stream
    "TRACK_RATE_LIMIT": ("60/minute", str),
    "SSE_POLL_SECONDS": (1.0, float),
    "SSE_HEARTBEAT_SECONDS": (15.0, float),
    "SSE_MAX_SECONDS": (3600.0, float),
    # Open live streams one API process serves at most; beyond it: 503 with Retry-After
    "SSE_MAX_STREAMS": (5000, int),
    # Seconds a login session found live is trusted without asking MySQL again (0: ask every time);
    # a revocation ends it at once in this process, within SSE_POLL_SECONDS in every other
    "SESSION_CACHE_SECONDS": (5.0, float),
    # Courier trail: days of points kept (flask purge-positions, daily in the worker), and the fastest
    # plausible move between two points (a faster jump is rejected as a GPS error)
    "POSITION_RETENTION_DAYS": (30, int),
    "POSITION_MAX_SPEED_KMH": (250.0, float),
    "BCRYPT_LOG_ROUNDS": (12, int),
    # Links in emails and SMS point here (the public tracking page is PUBLIC_BASE_URL/t/<tracking number>)
    "PUBLIC_BASE_URL": ("http://127.0.0.1:5000", lambda text: text.rstrip("/")),
    # Email over SMTP; empty SMTP_HOST: no emails are queued
    "SMTP_HOST": ("", str),
    "SMTP_PORT": (587, int),
    "SMTP_USER": ("", str),
    "SMTP_PASSWORD": ("", str),
    "SMTP_STARTTLS": (True, boolean),
    "SMTP_TIMEOUT_SECONDS": (10.0, float),
    "MAIL_FROM": ("Courier Tracking <no-reply@courier.localhost>", str),
    # SMS: empty sends nothing (no SMS is queued); "log" writes each SMS to the app log
    "SMS_PROVIDER": ("", str),
    # The notification worker (flask --app app1 worker): retries with exponential backoff and jitter
    "NOTIFY_MAX_ATTEMPTS": (8, int),
    "NOTIFY_BACKOFF_SECONDS": (30.0, float),
    "NOTIFY_BACKOFF_MAX_SECONDS": (3600.0, float),
    "WORKER_BATCH": (20, int),
    "WORKER_POLL_SECONDS": (1.0, float),
    "WORKER_LEASE_SECONDS": (120.0, float),
    # Webhooks: per-request timeout, how long a delivery is retried, and when an endpoint is disabled
    "WEBHOOK_TIMEOUT_SECONDS": (10.0, float),
    "WEBHOOK_RETRY_HOURS": (24.0, float),
    "WEBHOOK_DISABLE_AFTER": (50, int),
    # Endpoints on private or loopback addresses; empty (None): refused except in debug and tests
    "WEBHOOK_ALLOW_PRIVATE": (None, boolean),
    # Proof of delivery: wrong codes before the order locks for an admin; key the codes derive from
    # (empty: derived from JWT_SECRET_KEY)
    "POD_MAX_FAILURES": (5, int),
    "DELIVERY_CODE_KEY": ("", str),
    # Photo and signature proof: what Delivered requires (code, photo, signature or any of them), the largest
    # file accepted, and where files are kept (a local directory, or an S3-compatible bucket)
    "POD_REQUIRE": ("code", one_of("code", "photo", "signature", "any")),
    "POD_MAX_UPLOAD_BYTES": (5 * 1024 * 1024, int),
    "POD_STORAGE": ("local", one_of("local", "s3")),
    "POD_STORAGE_DIR": ("var/pod", str),
    "POD_S3_BUCKET": ("", str),
    "POD_S3_PREFIX": ("pod/", str),
    "POD_S3_ENDPOINT_URL": ("", str),
    "POD_S3_REGION": ("", str),
    # Bulk CSV import of orders: rows and bytes per file, and rows per transaction
    "IMPORT_MAX_ROWS": (10000, int),
    "IMPORT_MAX_BYTES": (16 * 1024 * 1024, int),
    "IMPORT_BATCH_ROWS": (500, int),
    # Web console: map tiles for the public tracking page (empty: coordinates as text only)
    "MAP_TILE_URL": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", str),
    # Prometheus metrics: GET /metrics needs this bearer token (empty: /metrics answers 404); a courier with an
    # open order and no position for STALE_PING_SECONDS counts as stale; the worker's own metrics listen on
    # WORKER_METRICS_HOST:WORKER_METRICS_PORT (0: off)
    "METRICS_TOKEN": ("", str),
    "STALE_PING_SECONDS": (300, int),
    "WORKER_METRICS_HOST": ("127.0.0.1", str),
    "WORKER_METRICS_PORT": (0, int),
    # Dispatch: service time per stop (s), the solver's time budget (s), exploration level (0-5) and threads,
    # and AUTO_DISPATCH=nearest to assign each new order at once to the nearest on-shift courier with room
    "DISPATCH_SERVICE_SECONDS": (120, int),
    "DISPATCH_MAX_SECONDS": (30.0, float),
    "DISPATCH_EXPLORATION_LEVEL": (3, int),
    "DISPATCH_THREADS": (2, int),
    "AUTO_DISPATCH": ("off", str),
    # Travel times: straight-line distance x detour factor at an average speed, or an OSRM-compatible
    # table service at ROUTING_URL (e.g. http://127.0.0.1:5001)
    "ROUTING_SPEED_KMH": (25.0, float),
    "ROUTING_DETOUR_FACTOR": (1.3, float),
    "ROUTING_URL": ("", lambda text: text.rstrip("/")),
    "ROUTING_TIMEOUT_SECONDS": (10.0, float),
    # ETAs: minutes the expected time must move before live streams send an `eta` event; deliveries whose
    # errors make the window (the last ETA_HISTORY_SIZE, at least ETA_HISTORY_MIN, else the default margins
    # in minutes before/after expected); the arrival radius (m); SLA for late risk without a window (h)
    "ETA_NOTIFY_MINUTES": (5.0, float),
    "ETA_HISTORY_SIZE": (500, int),
    "ETA_HISTORY_MIN": (20, int),
    "ETA_DEFAULT_EARLY_MINUTES": (10.0, float),
    "ETA_DEFAULT_LATE_MINUTES": (15.0, float),
    "ARRIVAL_RADIUS_M": (100.0, float),
    "SLA_HOURS": (48.0, float),
    # Customers who opted in get an "arriving soon" email/SMS when the courier is this many stops away (0: never)
    "ARRIVING_SOON_STOPS": (2, int),
    # A Nominatim-compatible geocoder for orders placed without coordinates (empty: they stay unroutable)
    "GEOCODER_URL": ("", lambda text: text.rstrip("/")),
    "GEOCODER_TIMEOUT_SECONDS": (10.0, float),
    "FLASK_DEBUG": (False, boolean),
    # Threads that hash passwords (bcrypt releases the GIL), per process
    "BCRYPT_THREADS": (1, int),
    # gunicorn (`make serve`, gunicorn.conf.py): worker processes (0: one per core), connections each serves
    # at once, requests before a worker is recycled (0: never), and its log level
    "WEB_CONCURRENCY": (0, int),
    "WORKER_CONNECTIONS": (2000, int),
    "MAX_REQUESTS": (0, int),
    "LOG_LEVEL": ("info", str),
}
# Set here, not from the environment.
FIXED = {
    "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=15),
    "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=30),
    "JWT_TOKEN_LOCATION": ["headers"],
    "JWT_ALGORITHM": "HS256",
    "JWT_DECODE_ALGORITHMS": ["HS256"],
    "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
}


def setting(name):
    """One setting from the environment, or its default (also for an empty number or yes/no; an empty
    text is a value: MAP_TILE_URL= turns the map off)."""
    default, kind = SETTINGS[name]
    raw = os.environ.get(name)
    if raw is None or (not raw.strip() and not isinstance(default, str)):
        return default
    return kind(raw)


def from_env():
    """Every setting, for app.config."""
    load_dotenv()
    config = {name: setting(name) for name in SETTINGS}
    config["DEBUG"] = config.pop("FLASK_DEBUG")
    return {**config, **FIXED}


AUTO_DISPATCH_MODES = ("off", "nearest")


def check_dispatch(app):
    """Refuse to start with an AUTO_DISPATCH other than off or nearest."""
    if app.config.get("AUTO_DISPATCH", "off") not in AUTO_DISPATCH_MODES:
        raise RuntimeError(f"AUTO_DISPATCH must be one of {', '.join(AUTO_DISPATCH_MODES)}")


def check_secret(app):
    """Refuse to start in production without a strong JWT secret; make a throwaway one in debug/tests."""
    secret = app.config.get("JWT_SECRET_KEY") or ""
    if len(secret.encode()) >= MIN_SECRET_BYTES:
        return
    if app.config.get("TESTING") or app.debug:
        if not secret:
            app.config["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
            log.warning("JWT_SECRET_KEY is not set: using a throwaway key (tokens die with this process)")
        return
    raise RuntimeError(
        f"JWT_SECRET_KEY must be set to at least {MIN_SECRET_BYTES} bytes outside debug and testing. "
        "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))' "
        "and put it in the environment or in .env"
    )
