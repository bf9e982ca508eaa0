"""Rate limits with Flask-Limiter. Shared across processes through Redis when REDIS_URL is set;
in-memory storage (the default) is for development and tests only."""

import hashlib

import jwt as pyjwt
from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def init_app(app):
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # If Redis goes away, count in this process's memory (and log it) rather than fail every request;
    # a dead Redis host costs a second, not a hung request.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})
    limiter.init_app(app)


# --- Brute force: failed logins (and failed password changes) per account and per client address ---
# Only failures count (deduct_when), so people who type their password right are never slowed down.


def _key(kind, value):
    """A limiter key; account names are hashed so no email address is stored in Redis."""
    prefix = current_app.config["LOGIN_LIMIT_KEY_PREFIX"]
    return f"{prefix}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def login_limit_per_account():
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


def login_limit_per_ip():
    return current_app.config["LOGIN_LIMIT_PER_IP"]


def login_account_key():
    """The account a login names: its email or username as the login compares it (trimmed, any case)."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    for field in ("username", "email"):
        value = body.get(field)
        if isinstance(value, str) and value.strip():
            return _key("login-account", f"{field}:{value.strip().lower()}")
    return _key("login-account", "-")


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
