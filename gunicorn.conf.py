"""gunicorn settings for production: `make serve`, or `gunicorn -c gunicorn.conf.py`.

gevent workers: the app is I/O-bound (PyMySQL is pure Python, so its sockets become cooperative under
gevent) and Server-Sent Events streams stay open for minutes, so each worker serves thousands of
connections as greenlets instead of one per thread. One worker per core; bcrypt, the one CPU-heavy step,
runs on a small native thread pool (it releases the GIL) so a login storm does not stall the event loop.
"""

import multiprocessing
import os

import pymysql
from dotenv import load_dotenv

from courier import gunicorn_errors

load_dotenv()
# Requests gunicorn refuses itself (e.g. headers over 8 KB: 431) answer JSON too, not HTML.
gunicorn_errors.install()

wsgi_app = "app1:create_app()"
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
# Concurrent connections (requests and SSE streams) per worker.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS") or 2000)
keepalive = 5
timeout = 30  # a worker that stops answering the arbiter for this long is restarted
graceful_timeout = 30
max_requests = int(os.environ.get("MAX_REQUESTS") or 0)  # 0: workers are never recycled
accesslog = None  # the app writes its own one-line JSON access log
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")


def on_starting(server):
    """Refuse to start when the pools of every worker could exceed MySQL's max_connections."""
    pool = int(os.environ.get("DB_POOL_SIZE", "10"))
    needed = workers * pool
    try:
        conn = pymysql.connect(
            host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
            port=int(os.environ.get("MYSQL_PORT", "3306")),
            user=os.environ.get("MYSQL_USER", "root"),
            password=os.environ.get("MYSQL_PASSWORD", ""),
            connect_timeout=3,
        )
    except pymysql.err.OperationalError as err:
        server.log.warning("MySQL unreachable at start (%s); requests will get 503 until it answers", err)
        return
    with conn.cursor() as cur:
        cur.execute("SELECT @@max_connections")
        (max_connections,) = cur.fetchone()
    conn.close()
    headroom = max_connections - needed
    server.log.info(
        "%d workers x DB_POOL_SIZE %d = %d MySQL connections at most (max_connections %d)",
        workers,
        pool,
        needed,
        max_connections,
    )
    if headroom < 10:
        raise SystemExit(
            f"{workers} workers x DB_POOL_SIZE {pool} = {needed} connections would leave fewer than 10 of "
            f"MySQL's max_connections ({max_connections}) for everything else: lower WEB_CONCURRENCY or "
            "DB_POOL_SIZE, or raise max_connections."
        )


def pre_request(worker, req):
    """Let other connections' greenlets run before each request.

    A keep-alive connection whose next request is already buffered is otherwise served again and again
    without the worker ever yielding, so the other connections of that worker wait (a p99 of hundreds of ms
    at a p50 under 1 ms). One switch to the hub per request makes service round-robin.
    """
    import gevent

    gevent.sleep(0)
