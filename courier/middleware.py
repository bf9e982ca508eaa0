"""Cross-cutting HTTP behaviour: JSON encoding, CORS and security headers."""

from datetime import date, datetime
from decimal import Decimal

from flask import request
from flask.json.provider import DefaultJSONProvider
from flask_cors import CORS


class ApiJSONProvider(DefaultJSONProvider):
    """Times as ISO 8601 UTC ('...Z'), decimals as numbers; keys keep their order."""

    sort_keys = False

    @staticmethod
    def default(o):
        if isinstance(o, datetime):
            return o.isoformat(timespec="milliseconds") + ("Z" if o.tzinfo is None else "")
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, Decimal):
            return float(o)
        return DefaultJSONProvider.default(o)

    def loads(self, s, **kwargs):
        """Parse JSON, refusing NaN and Infinity (not JSON, and no column can store them): a 400."""
        kwargs.setdefault("parse_constant", _reject_constant)
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            # e.g. 100,000 '[': a malformed body like any other (400), never a crash
            raise ValueError("JSON nested too deeply") from None


def _reject_constant(name):
    raise ValueError(f"{name} is not a valid JSON value")


def _security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "application/json":
        headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    # Authenticated answers, and the login's answer (it holds tokens), are never stored by a cache.
    if "Authorization" in request.headers or request.endpoint == "api.login":
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    app.json = ApiJSONProvider(app)
    origins = [o.strip() for o in app.config["CORS_ORIGINS"].split(",") if o.strip()]
    # Tokens travel in the Authorization header, never in cookies: credentials stay off,
    # so a wildcard origin is never combined with them.
    CORS(
        app,
        origins=origins or "*",
        supports_credentials=False,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
        # Readable by browser code: rate limits, the request id and an idempotent replay.
        expose_headers=[
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-Request-ID",
            "Idempotent-Replayed",
        ],
        max_age=600,
    )
    app.after_request(_security_headers)
