"""Configuration from the environment (and .env), with the defaults PRODUCT.md fixes."""

import logging
import os
import secrets
from datetime import timedelta

from dotenv import load_dotenv

log = logging.getLogger(__name__)
MIN_SECRET_BYTES = 32
POD_REQUIRE_CHOICES = ("code", "photo", "signature", "any")


def _choice(value, name, choices):
    """A setting that must be one of a few words; anything else stops the app at start."""
    if value not in choices:
        raise RuntimeError(f"{name} must be one of: {', '.join(choices)} (not {value!r})")
    return value


def from_env():
    load_dotenv()
    env = os.environ.get
    return {
        "MYSQL_HOST": env("MYSQL_HOST", "127.0.0.1"),
        "MYSQL_PORT": int(env("MYSQL_PORT", "3306")),
        "MYSQL_USER": env("MYSQL_USER", "root"),
        "MYSQL_PASSWORD": env("MYSQL_PASSWORD", ""),
        "MYSQL_DB": env("MYSQL_DB", "courier1"),
        "MYSQL_CONNECT_TIMEOUT": int(env("MYSQL_CONNECT_TIMEOUT", "2")),
        "MYSQL_READ_TIMEOUT": int(env("MYSQL_READ_TIMEOUT", "4")),
        # Reverse proxies in front of the app whose X-Forwarded-For / -Proto to trust (0: none)
        "TRUSTED_PROXIES": int(env("TRUSTED_PROXIES", "0")),
        "DB_POOL_SIZE": int(env("DB_POOL_SIZE", "10")),
        "JWT_SECRET_KEY": env("JWT_SECRET_KEY", ""),
        "HOST": env("HOST", "127.0.0.1"),
        "PORT": int(env("PORT", "5000")),
        "CORS_ORIGINS": env("CORS_ORIGINS", "*"),
        # Rate-limit storage shared by every process (e.g. redis://127.0.0.1:6379/0); empty: in memory
        "REDIS_URL": env("REDIS_URL", ""),
        "RATELIMIT_ENABLED": env("RATELIMIT_ENABLED", "1") not in ("0", "false", "False"),
        # Failed logins (and failed password changes) allowed per account and per client address
        "LOGIN_LIMIT_PER_ACCOUNT": env("LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes"),
        "LOGIN_LIMIT_PER_IP": env("LOGIN_LIMIT_PER_IP", "50 per 15 minutes"),
        "LOGIN_LIMIT_KEY_PREFIX": env("LOGIN_LIMIT_KEY_PREFIX", "courier"),
        # Public tracking (GET /track/...) per client; live streams (SSE) poll, beat and end on these
        "TRACK_RATE_LIMIT": env("TRACK_RATE_LIMIT", "60/minute"),
        "SSE_POLL_SECONDS": float(env("SSE_POLL_SECONDS", "1")),
        "SSE_HEARTBEAT_SECONDS": float(env("SSE_HEARTBEAT_SECONDS", "15")),
        "SSE_MAX_SECONDS": float(env("SSE_MAX_SECONDS", "3600")),
        "BCRYPT_LOG_ROUNDS": int(env("BCRYPT_LOG_ROUNDS", "12")),
        # Links in emails and SMS point here (the public tracking page is PUBLIC_BASE_URL/t/<tracking number>)
        "PUBLIC_BASE_URL": env("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        # Email over SMTP; empty SMTP_HOST: no emails are queued
        "SMTP_HOST": env("SMTP_HOST", ""),
        "SMTP_PORT": int(env("SMTP_PORT", "587")),
        "SMTP_USER": env("SMTP_USER", ""),
        "SMTP_PASSWORD": env("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": env("SMTP_STARTTLS", "1") not in ("0", "false", "False"),
        "SMTP_TIMEOUT_SECONDS": float(env("SMTP_TIMEOUT_SECONDS", "10")),
        "MAIL_FROM": env("MAIL_FROM", "Courier Tracking <no-reply@courier.localhost>"),
        # SMS: empty sends nothing (no SMS is queued); "log" writes each SMS to the app log
        "SMS_PROVIDER": env("SMS_PROVIDER", ""),
        # The notification worker (flask --app app1 worker): retries with exponential backoff and jitter
        "NOTIFY_MAX_ATTEMPTS": int(env("NOTIFY_MAX_ATTEMPTS", "8")),
        "NOTIFY_BACKOFF_SECONDS": float(env("NOTIFY_BACKOFF_SECONDS", "30")),
        "NOTIFY_BACKOFF_MAX_SECONDS": float(env("NOTIFY_BACKOFF_MAX_SECONDS", "3600")),
        "WORKER_BATCH": int(env("WORKER_BATCH", "20")),
        "WORKER_POLL_SECONDS": float(env("WORKER_POLL_SECONDS", "1")),
        "WORKER_LEASE_SECONDS": float(env("WORKER_LEASE_SECONDS", "120")),
        # Webhooks: per-request timeout, how long a delivery is retried, and when an endpoint is disabled
        "WEBHOOK_TIMEOUT_SECONDS": float(env("WEBHOOK_TIMEOUT_SECONDS", "10")),
        "WEBHOOK_RETRY_HOURS": float(env("WEBHOOK_RETRY_HOURS", "24")),
        "WEBHOOK_DISABLE_AFTER": int(env("WEBHOOK_DISABLE_AFTER", "50")),
        "WEBHOOK_ALLOW_PRIVATE": env("WEBHOOK_ALLOW_PRIVATE", "1") not in ("0", "false", "False"),
        # Proof of delivery: wrong codes before the order locks for an admin; key the codes derive from
        # (empty: derived from JWT_SECRET_KEY)
        "POD_MAX_FAILURES": int(env("POD_MAX_FAILURES", "5")),
        "DELIVERY_CODE_KEY": env("DELIVERY_CODE_KEY", ""),
        # Photo and signature proof: what Delivered requires (code, photo, signature or any of them), the
        # largest file accepted, and where files are kept (a local directory, or an S3-compatible bucket)
        "POD_REQUIRE": _choice(env("POD_REQUIRE", "code"), "POD_REQUIRE", POD_REQUIRE_CHOICES),
        "POD_MAX_UPLOAD_BYTES": int(env("POD_MAX_UPLOAD_BYTES", str(5 * 1024 * 1024))),
        "POD_STORAGE": _choice(env("POD_STORAGE", "local"), "POD_STORAGE", ("local", "s3")),
        "POD_STORAGE_DIR": env("POD_STORAGE_DIR", "var/pod"),
        "POD_S3_BUCKET": env("POD_S3_BUCKET", ""),
        "POD_S3_PREFIX": env("POD_S3_PREFIX", "pod/"),
        "POD_S3_ENDPOINT_URL": env("POD_S3_ENDPOINT_URL", ""),
        "POD_S3_REGION": env("POD_S3_REGION", ""),
        # Bulk CSV import of orders: rows and bytes per file, and rows per transaction
        "IMPORT_MAX_ROWS": int(env("IMPORT_MAX_ROWS", "10000")),
        "IMPORT_MAX_BYTES": int(env("IMPORT_MAX_BYTES", str(16 * 1024 * 1024))),
        "IMPORT_BATCH_ROWS": int(env("IMPORT_BATCH_ROWS", "500")),
        # Web console: map tiles for the public tracking page (empty: coordinates as text only)
        "MAP_TILE_URL": env("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=15),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=30),
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "DEBUG": env("FLASK_DEBUG", "0") in ("1", "true", "True"),
    }


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
