"""Assertions and row look-ups that several test files share."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def count(sql, table, where="1=1", args=()):
    """Rows in a table (table and condition come from the test itself, never from input)."""
    return sql(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", args, one=True)["n"]


def order_row(sql, order_id):
    return sql("SELECT * FROM orders WHERE order_id = %s", (order_id,), one=True)


def events(sql, order_id, type_=None):
    """An order's stored events, oldest first, optionally of one type."""
    where, args = "order_id = %s", [order_id]
    if type_:
        where += " AND type = %s"
        args.append(type_)
    return sql(f"SELECT * FROM order_events WHERE {where} ORDER BY event_id", args)


def assert_error(response, status, code=None):
    """The response is the one JSON error shape with this status (and code); return its body."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    if code is not None:
        assert body["code"] == code
    return body


class FakeService(BaseHTTPRequestHandler):
    """A local stand-in for an outside HTTP service (routing, geocoding): subclasses answer with json()."""

    def json(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def serving(handler):
    """Run `handler` on a free loopback port for the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
