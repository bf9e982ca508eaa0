"""Access log: one JSON line per request (logger "courier.access"), and the X-Request-ID header.

A line holds the request id, method, path (never the query string), status, duration and, for a
request with a valid token, the user id and role; never a header, body, token or password.
"""

import json
import logging
import re
import sys
import time
import uuid

from flask import g, request

log = logging.getLogger("courier.access")

HEADER = "X-Request-ID"
MAX_ID_LENGTH = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+=-]")


def request_id(raw):
    """The caller's X-Request-ID, reduced to safe characters and 64 at most, or a new one."""
    cleaned = _UNSAFE.sub("", raw or "")[:MAX_ID_LENGTH]
    return cleaned or uuid.uuid4().hex


def _start():
    g.request_id = request_id(request.headers.get(HEADER))
    g.request_started = time.perf_counter()


def _finish(response):
    rid = g.get("request_id") or request_id(request.headers.get(HEADER))
    response.headers[HEADER] = rid
    started = g.get("request_started")
    user = g.get("auth_user") or {}
    entry = {
        "request_id": rid,
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "user_id": user.get("user_id"),
        "role": user.get("role"),
        "remote_addr": request.remote_addr,
    }
    log.info(json.dumps(entry, separators=(",", ":")))
    return response


def init_app(app):
    """Hook the log in first, so its after_request runs last and sees the final response."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.handlers and not logging.getLogger().handlers:
        # Nothing configures logging (python app1.py, plain gunicorn): print the lines as they are.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    app.before_request(_start)
    app.after_request(_finish)
