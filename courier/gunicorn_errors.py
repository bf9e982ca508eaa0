"""gunicorn's own error answers (request line or headers too large, malformed HTTP) as the API's JSON shape.

gunicorn refuses some requests before the app sees them, e.g. a header field over 8190 bytes (431) or more
than 100 header fields; it writes them as HTML. `install()` (called from gunicorn.conf.py) replaces that
writer so clients get `{"error": ..., "code": ...}` like every other error.
"""

import json


def _code(reason):
    return "_".join(reason.lower().replace("-", " ").split()) or "bad_request"


def write_json_error(sock, status_int, reason, mesg):
    """gunicorn.util.write_error's replacement: same status and reason, a JSON body."""
    from gunicorn import util

    body = json.dumps({"error": f"{reason}: {mesg}" if mesg else reason, "code": _code(reason)})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body.encode())


def install():
    from gunicorn import util

    util.write_error = write_json_error
