"""A small pool of PyMySQL connections that fails fast and never re-runs a statement by itself.

- Taking a connection waits at most `wait_seconds` for a free one (then a 1040 "too many connections" error,
  answered 503), never forever.
- A connection is never pinged or reconnected behind the caller's back, and a failed statement is never
  retried: a write either commits once or its error reaches the caller (503). An idle connection that the
  server closed (KILL, wait_timeout, restart) is noticed without a round trip, from its socket, and replaced.
- `deadline` (a time.monotonic() value) bounds waiting for a connection, opening one and the first
  statement's answer, so a request on a stalled server gets its 503 within that budget; once the server has
  answered, statements get the normal read timeout again (see `settle`).
- A connection handed back inside a transaction is rolled back; one that broke is closed.
"""

import select
import threading
import time

import pymysql
from pymysql.constants import SERVER_STATUS

TOO_MANY_CONNECTIONS = 1040
MIN_TIMEOUT = 0.05


class PoolExhausted(pymysql.err.OperationalError):
    """No pooled connection became free in time."""


def _remaining(deadline, cap):
    if deadline is None:
        return cap
    return max(MIN_TIMEOUT, min(cap, deadline - time.monotonic()))


def _alive(conn):
    """Whether an idle connection is still open: with nothing asked, its socket has nothing to read."""
    sock = getattr(conn, "_sock", None)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _close(conn):
    try:
        conn.close()
    except Exception:  # already broken: closing is best effort
        pass


class Pool:
    def __init__(self, connect_args, size, wait_seconds):
        self.connect_args = dict(connect_args)
        self.size = size
        self.wait_seconds = wait_seconds
        self.connect_timeout = connect_args["connect_timeout"]
        self.read_timeout = connect_args.get("read_timeout")
        self.write_timeout = connect_args.get("write_timeout")
        self._slots = threading.BoundedSemaphore(size)
        self._idle = []
        self._lock = threading.Lock()
        self._closed = False
        self.in_use = 0  # connections handed out and not given back yet

    def connection(self, deadline=None):
        """A connection for the caller alone; its close() gives it back."""
        if not self._slots.acquire(timeout=_remaining(deadline, self.wait_seconds)):
            raise PoolExhausted(
                TOO_MANY_CONNECTIONS, f"no database connection free within {self.wait_seconds:g} s"
            )
        try:
            conn = self._take_idle() or self._open(deadline)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self.in_use += 1
        if deadline is not None:
            conn._read_timeout = _remaining(deadline, self.read_timeout or 3600)
            conn._write_timeout = _remaining(deadline, self.write_timeout or 3600)
        return PooledConnection(self, conn)

    def _take_idle(self):
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()
            if _alive(conn):
                return conn
            _close(conn)

    def _open(self, deadline):
        timeout = _remaining(deadline, self.connect_timeout)
        # The handshake and init_command are bounded by the connect timeout too (PyMySQL reads them with
        # the read timeout); afterwards the configured read and write timeouts apply.
        conn = pymysql.connect(
            **{
                **self.connect_args,
                "connect_timeout": timeout,
                "read_timeout": timeout,
                "write_timeout": timeout,
            }
        )
        self.settle(conn)
        return conn

    def settle(self, conn):
        """Give a connection whose server has answered the configured timeouts back."""
        conn._read_timeout = self.read_timeout
        conn._write_timeout = self.write_timeout

    def _give_back(self, conn):
        with self._lock:
            self.in_use -= 1
        try:
            if getattr(conn, "_sock", None) is None:
                return
            if conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
                try:
                    conn.rollback()
                except pymysql.err.Error:
                    _close(conn)
                    return
            self.settle(conn)
            with self._lock:
                if not self._closed:
                    self._idle.append(conn)
                    return
            _close(conn)
        finally:
            self._slots.release()

    def close(self):
        """Close every idle connection; connections in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


class PooledConnection:
    """A pooled PyMySQL connection: everything but close() goes to the connection itself."""

    def __init__(self, pool, conn):
        self._pool = pool
        self._conn = conn

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def close(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._give_back(conn)

    def settle(self):
        """The server answered: later statements get the configured read timeout again."""
        if self._conn is not None and self._conn._read_timeout != self._pool.read_timeout:
            self._pool.settle(self._conn)
