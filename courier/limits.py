"""Rate limits with Flask-Limiter. Shared across processes through Redis when REDIS_URL is set;
in-memory storage (the default) is for development and tests only.

With Redis, counters live in Redis whatever a request contains: a malformed request can never switch the
limiter to per-process counting (key functions never raise, and the fallback below is decided by Redis
alone). When Redis itself is unreachable, each process counts in its own memory (logged once), and goes back
to Redis as soon as it answers again (checked at most every REDIS_RETRY_SECONDS).
"""

import hashlib
import logging
import threading
import time

import jwt as pyjwt
import pymysql
from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage, RedisStorage, Storage

from . import emails
from .auth import find_account
from .errors import ApiError

log = logging.getLogger(__name__)
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
REDIS_RETRY_SECONDS = 1.0


class RedisWithFallback(Storage):
    """Redis storage that counts in this process's memory only while Redis does not answer."""

    STORAGE_SCHEME = ["courier+redis", "courier+rediss"]

    def __init__(self, uri, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.redis = RedisStorage(uri.removeprefix("courier+"), **options)
        self.memory = MemoryStorage()
        self.down = False
        self.retry_at = 0.0
        self.lock = threading.Lock()

    @property
    def base_exceptions(self):
        return ()  # errors of Redis are handled here, never raised to the limiter

    def _call(self, name, *args, **kwargs):
        if self.down and time.monotonic() < self.retry_at:
            return getattr(self.memory, name)(*args, **kwargs)
        try:
            result = getattr(self.redis, name)(*args, **kwargs)
        except self.redis.base_exceptions as err:
            with self.lock:
                self.retry_at = time.monotonic() + REDIS_RETRY_SECONDS
                if not self.down:
                    self.down = True
                    log.warning(
                        "rate-limit storage (Redis) unreachable, counting per process until it answers: %s",
                        err,
                    )
            return getattr(self.memory, name)(*args, **kwargs)
        if self.down:
            with self.lock:
                if self.down:
                    self.down = False
                    log.warning("rate-limit storage (Redis) answers again: limits are shared again")
        return result

    def incr(self, key, expiry, amount=1):
        return self._call("incr", key, expiry, amount=amount)

    def get(self, key):
        return self._call("get", key)

    def get_expiry(self, key):
        return self._call("get_expiry", key)

    def check(self):
        return True  # usable either way: Redis, or memory while Redis is down

    def reset(self):
        return self._call("reset")

    def clear(self, key):
        return self._call("clear", key)


def init_app(app):
    redis_url = app.config.get("REDIS_URL") or ""
    if redis_url.startswith(("redis://", "rediss://")):
        app.config.setdefault("RATELIMIT_STORAGE_URI", "courier+" + redis_url)
        # A dead Redis host costs a second, not a hung request.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Flask-Limiter's own fallback switches to memory on any error, a bad request's included: off. The
    # storage above falls back on Redis errors only.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", False)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)


# --- Brute force: failed logins (and failed password changes) per account and per client address ---
# Only failures count (deduct_when), so people who type their password right are never slowed down.


def _key(kind, value):
    """A limiter key; account names are hashed so no email address is stored in Redis."""
    prefix = current_app.config["LOGIN_LIMIT_KEY_PREFIX"]
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{prefix}:{kind}:{digest}"


def login_limit_per_account():
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


def login_limit_per_ip():
    return current_app.config["LOGIN_LIMIT_PER_IP"]


def _account_of(field, value):
    """The account row a login names, as the login itself finds it ("role:id"), so every spelling the
    database matches (case, accents, width) shares one counter; else the normalised spelling."""
    try:
        name = emails.normalise(value) if field == "email" else value.strip()
        role, row = find_account(**{field: name})
    except ApiError:  # not a valid address: answered 400 by the handler; counted under what was sent
        return f"{field}:{value}"
    except pymysql.err.Error:  # the database is down: the handler answers 503
        return f"{field}:{value.strip().casefold()}"
    if row is not None:
        return f"account:{role}:{row['id']}"
    return f"{field}:{name.casefold()}"


def login_account_key():
    """The account a login names: one counter per account row, however its email or username is typed."""
    try:
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        for field in ("username", "email"):
            value = body.get(field)
            if isinstance(value, str) and value.strip():
                return _key("login-account", _account_of(field, value))
    except Exception:  # whatever the request holds, the limit still applies (never an error here)
        log.exception("login limiter: unreadable login request")
        return _key("login-account", "unreadable")
    return _key("login-account", "-")


def signup_limit():
    return current_app.config["SIGNUP_RATE_LIMIT"]


def signup_ip_key():
    """The client's address, for the sign-up limit."""
    return _key("signup-ip", get_remote_address() or "-")


def client_ip_key():
    """The client's address (behind a proxy, set up ProxyFix so this is the real client)."""
    return _key("login-ip", get_remote_address() or "-")


def token_account_key():
    """The account of the bearer token (its signature is checked by the handler; a failure only
    counts once the handler has verified the token)."""
    header = request.headers.get("Authorization", "")
    try:
        claims = pyjwt.decode(header.removeprefix("Bearer ").strip(), options={"verify_signature": False})
    except pyjwt.PyJWTError:
        claims = {}
    return _key("password-account", f"{claims.get('role')}:{claims.get('sub')}")


def failed_login(response):
    """Count a login attempt only when it failed (401 Invalid credentials)."""
    return response.status_code == 401


def failed_password_check(response):
    """Count a password change only when the old password was wrong."""
    if response.status_code != 400 or not response.is_json:
        return False
    return (response.get_json(silent=True) or {}).get("code") == "wrong_password"
