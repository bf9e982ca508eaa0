"""One error shape for every failure: {"error": <message>, "code": <snake_case>, ["fields": {...}]}."""

import logging

import pymysql
from flask import jsonify
from werkzeug.exceptions import HTTPException

from .config import MAX_BODY_BYTES

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error that becomes a JSON response with the given status."""

    def __init__(self, status, message, code, fields=None, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.fields = fields
        self.extra = extra

    def body(self):
        body = {"error": self.message, "code": self.code}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


def bad_request(message, code="invalid_input", fields=None, **extra):
    return ApiError(400, message, code, fields, **extra)


def not_found(what):
    return ApiError(404, f"{what} not found", f"{what.lower().replace(' ', '_')}_not_found")


def conflict(message, code, **extra):
    return ApiError(409, message, code, **extra)


def forbidden(message="You are not allowed to do this", code="forbidden"):
    return ApiError(403, message, code)


def unauthorized(message, code="unauthorized"):
    return ApiError(401, message, code)


def error_response(status, message, code, **extra):
    response = jsonify({"error": message, "code": code, **extra})
    response.status_code = status
    return response


# Readable messages for the HTTP errors Flask and Werkzeug raise themselves.
HTTP_MESSAGES = {
    400: ("Request body must be valid JSON", "malformed_json"),
    404: ("Not found", "not_found"),
    405: ("Method not allowed", "method_not_allowed"),
    413: (f"Request body too large ({MAX_BODY_BYTES // 2**20} MiB at most)", "body_too_large"),
    415: ("Request body must be JSON", "unsupported_media_type"),
    429: ("Too many requests; retry after the time in the Retry-After header", "rate_limited"),
}

DB_DOWN = (503, "Database unavailable, please retry shortly", "database_unavailable")
# MySQL error numbers: can't connect / gone away / lost connection / timeouts / too many connections /
# server shutting down or read-only, and the two ways a lost race ends (lock wait timeout, deadlock).
CONNECTION_ERRORS = {1040, 1053, 1077, 1290, 2002, 2003, 2005, 2006, 2012, 2013, 2014, 2026, 2055, 4031}
LOST_RACE = {1205, 1213}
# The server answers but will not let us in: wrong account or password, or the database was never created.
ACCESS_DENIED = {1044, 1045}
UNKNOWN_DATABASE = 1049


def setup_problem(code):
    """A 503 that says what to do when the database is reachable but not usable (or None)."""
    from flask import current_app

    config = current_app.config
    if code in ACCESS_DENIED:
        return (
            503,
            f"Database access denied for user {config['MYSQL_USER']!r}: check MYSQL_USER and MYSQL_PASSWORD",
            "database_unavailable",
        )
    if code == UNKNOWN_DATABASE:
        return (
            503,
            f"Database {config['MYSQL_DB']!r} does not exist: run `flask --app app1 init-db` to create it",
            "database_unavailable",
        )
    return None


def register_error_handlers(app):
    """Turn every exception into the one JSON error shape; never a traceback."""

    @app.errorhandler(ApiError)
    def handle_api_error(err):
        response = jsonify(err.body())
        response.status_code = err.status
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(err):
        message, code = HTTP_MESSAGES.get(
            err.code, (err.description or err.name, err.name.lower().replace(" ", "_"))
        )
        response = error_response(err.code, message, code)
        if err.code == 405 and err.valid_methods:
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(pymysql.err.OperationalError)
    @app.errorhandler(pymysql.err.InterfaceError)
    def handle_db_error(err):
        """Lost races answer 409; connection trouble answers 503; anything else is our bug (500)."""
        code = err.args[0] if err.args and isinstance(err.args[0], int) else None
        if code in LOST_RACE:
            return error_response(
                409, "Another request changed this at the same time; retry", "conflict_retry"
            )
        problem = setup_problem(code)
        if problem:
            log.error("database not usable: %s", err)
            return error_response(*problem)
        if isinstance(err, pymysql.err.InterfaceError) or code in CONNECTION_ERRORS:
            log.warning("database unavailable: %s", err)
            return error_response(*DB_DOWN)
        log.exception("database error")
        return error_response(500, "Internal server error", "internal_error")

    @app.errorhandler(Exception)
    def handle_unexpected(err):
        log.exception("unhandled error")
        return error_response(500, "Internal server error", "internal_error")
