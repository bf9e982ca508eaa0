"""gunicorn settings for production: `make serve`, or `gunicorn -c gunicorn.conf.py`.

gevent workers: the app is I/O-bound (PyMySQL is pure Python, so its sockets become cooperative under
gevent) and Server-Sent Events streams stay open for minutes, so each worker serves thousands of
connections as greenlets instead of one per thread. One worker per core; bcrypt, the one CPU-heavy step,
runs on a small native thread pool (it releases the GIL) so a login storm does not stall the event loop.
"""

import glob
import multiprocessing
import os
import shutil
import tempfile

# Prometheus multiprocess mode: each worker keeps its metrics in files here, and GET /metrics adds them up.
# Set before anything imports prometheus_client (the forked workers inherit what this process imported);
# emptied at every start so no old process counts.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)
    _own_metrics_dir = None
else:
    _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="courier-metrics-")

import pymysql  # noqa: E402

from courier import gunicorn_errors  # noqa: E402
from courier.config import from_env  # noqa: E402

# Not named `config`: gunicorn reads that name in this file as its own setting (the config file path).
settings = from_env()  # the app's settings and defaults (courier/config.py SETTINGS)
# Requests gunicorn refuses itself (e.g. headers over 8 KB: 431) answer JSON too, not HTML.
gunicorn_errors.install()

wsgi_app = "app1:create_app()"
bind = f"{settings['HOST']}:{settings['PORT']}"
worker_class = "gevent"
workers = settings["WEB_CONCURRENCY"] or multiprocessing.cpu_count()
# Concurrent connections (requests and SSE streams) per worker.
worker_connections = settings["WORKER_CONNECTIONS"]
keepalive = 5
timeout = 30  # a worker that stops answering the arbiter for this long is restarted
graceful_timeout = 30
max_requests = settings["MAX_REQUESTS"]  # 0: workers are never recycled
accesslog = None  # the app writes its own one-line JSON access log
errorlog = "-"
loglevel = settings["LOG_LEVEL"]


def on_starting(server):
    """Refuse to start when the pools of every worker could exceed MySQL's max_connections."""
    pool = settings["DB_POOL_SIZE"]
    needed = workers * pool
    try:
        conn = pymysql.connect(
            host=settings["MYSQL_HOST"],
            port=settings["MYSQL_PORT"],
            user=settings["MYSQL_USER"],
            password=settings["MYSQL_PASSWORD"],
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


def child_exit(server, worker):
    """A worker that exits stops counting in the live gauges (open streams, pool in use)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder made above (one given in the environment is left where it is)."""
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)


def pre_request(worker, req):
    """Let other connections' greenlets run before each request.

    A keep-alive connection whose next request is already buffered is otherwise served again and again
    without the worker ever yielding, so the other connections of that worker wait (a p99 of hundreds of ms
    at a p50 under 1 ms). One switch to the hub per request makes service round-robin.
    """
    import gevent

    gevent.sleep(0)
