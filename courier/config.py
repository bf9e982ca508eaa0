"""Configuration from the environment (and .env), with the defaults PRODUCT.md fixes."""

import logging
import os
import secrets
from datetime import timedelta

from dotenv import load_dotenv

log = logging.getLogger(__name__)
MIN_SECRET_BYTES = 32


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
