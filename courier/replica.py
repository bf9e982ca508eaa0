"""Reads that may come from a MySQL/MariaDB read replica (MYSQL_REPLICA_HOST / MYSQL_REPLICA_PORT).

Only reads that can be a few seconds old use it: public tracking, admin analytics and the CSV export. They
run inside `with replica.reads():` (or under `@replica.reads()`), which points the request's connection
(db.get_db()) at a pooled replica connection for the block, so db.query() and db.transaction() need no
change. Writes, and reads that must see the caller's own writes, never enter the block and stay on the primary.

The replica is used only while it is healthy: every REPLICA_CHECK_SECONDS at most, each process asks it
SHOW REPLICA STATUS. When it is down, not replicating, or more than REPLICA_MAX_LAG_SECONDS behind, the block
reads from the primary and the log says so (once per check, and once when the replica is back).
"""

import logging
import threading
import time
from contextlib import contextmanager

import pymysql
from dbutils.pooled_db import PooledDB
from flask import current_app, g

from .db import connect_args, in_transaction

log = logging.getLogger("courier.replica")
_lock = threading.Lock()


def configured(config):
    return bool(config.get("MYSQL_REPLICA_HOST"))


def _pool(app):
    """The app's replica pool, created on first use (the app starts while the replica is down)."""
    pool = app.extensions.get("replica_pool")
    if pool is None:
        with _lock:
            pool = app.extensions.get("replica_pool")
            if pool is None:
                config = app.config
                args = {
                    **connect_args(config),
                    "host": config["MYSQL_REPLICA_HOST"],
                    "port": int(config["MYSQL_REPLICA_PORT"]),
                }
                pool = PooledDB(
                    creator=pymysql,
                    mincached=0,
                    maxcached=config["DB_POOL_SIZE"],
                    maxconnections=config["DB_POOL_SIZE"],
                    blocking=True,
                    ping=1,
                    reset=False,
                    **args,
                )
                app.extensions["replica_pool"] = pool
    return pool


def replica_lag(conn):
    """Seconds the replica is behind its primary, or None when it is not replicating (a thread stopped).

    SHOW REPLICA STATUS is MariaDB 10.5+ (Slave_* columns) and MySQL 8.0.22+ (Replica_* / *_Source columns);
    older servers only know SHOW SLAVE STATUS.
    """
    with conn.cursor() as cur:
        try:
            cur.execute("SHOW REPLICA STATUS")
        except pymysql.err.ProgrammingError:
            cur.execute("SHOW SLAVE STATUS")
        status = cur.fetchone()
    if not status:
        return None
    io = status.get("Slave_IO_Running", status.get("Replica_IO_Running"))
    sql = status.get("Slave_SQL_Running", status.get("Replica_SQL_Running"))
    if io != "Yes" or sql != "Yes":
        return None
    lag = status.get("Seconds_Behind_Master", status.get("Seconds_Behind_Source"))
    return None if lag is None else int(lag)


def problem(lag, max_lag):
    """Why a replica that is `lag` seconds behind (None: not replicating) must not be read, or None."""
    if lag is None:
        return "is not replicating"
    if lag > max_lag:
        return f"lags {lag} s (more than REPLICA_MAX_LAG_SECONDS={max_lag:g})"
    return None


def _state(app):
    return app.extensions.setdefault("replica_state", {"checked": None, "healthy": False, "reason": None})


def _healthy(app, pool, clock):
    """Whether the replica may be read now; asks it at most once per REPLICA_CHECK_SECONDS."""
    state = _state(app)
    now = clock()
    every = float(app.config["REPLICA_CHECK_SECONDS"])
    if state["checked"] is not None and now - state["checked"] < every:
        return state["healthy"]
    host = f"{app.config['MYSQL_REPLICA_HOST']}:{app.config['MYSQL_REPLICA_PORT']}"
    try:
        conn = pool.connection()
        try:
            reason = problem(replica_lag(conn), float(app.config["REPLICA_MAX_LAG_SECONDS"]))
        finally:
            conn.close()
    except pymysql.err.Error as err:
        reason = f"is unreachable ({err.args[-1] if err.args else err})"
    was_healthy = state["healthy"]
    state.update(checked=now, healthy=reason is None, reason=reason)
    if reason is not None:
        log.warning("read replica %s %s: reading from the primary", host, reason)
    elif not was_healthy:
        log.info("read replica %s is in sync: replica reads go to it", host)
    return reason is None


@contextmanager
def reads(clock=time.monotonic):
    """Inside the block, the request's queries read from the replica when it is configured and healthy."""
    app = current_app._get_current_object()
    # Inside a transaction on the primary, reads stay there: they must see what it wrote.
    if not configured(app.config) or g.get("on_replica") or in_transaction():
        yield
        return
    pool = _pool(app)
    conn = None
    if _healthy(app, pool, clock):
        try:
            conn = pool.connection()
        except pymysql.err.Error as err:
            _state(app).update(checked=clock(), healthy=False, reason=str(err))
            log.warning("read replica unreachable (%s): reading from the primary", err)
    if conn is None:
        yield
        return
    primary = g.pop("db", None)
    g.db, g.on_replica = conn, True
    try:
        yield
    finally:
        g.pop("on_replica", None)
        g.pop("db", None)
        if primary is not None:
            g.db = primary
        try:
            conn.close()
        except pymysql.err.Error:
            pass
