"""One reader per process for every live stream: new timeline events, courier positions, revoked sessions.

Each API process runs one background reader (a thread; a greenlet under gevent) while at least one live
stream is open. Every SSE_POLL_SECONDS it reads, on a connection of its own:

- the timeline events committed since its last read (by primary key, joined with their order's courier),
  handing each to the streams that watch that order;
- the courier trail points added since its last read, handing each courier's latest to the streams of
  the orders that courier carries (a stream shows it only while its order is Out for Delivery);
- the login sessions revoked in the last REVOKED_LOOKBACK seconds, ending the streams opened with them
  and dropping them from the session check cache.

The same reader keeps courier.auth's session check cheap: a session found live in MySQL is trusted for
SESSION_CACHE_SECONDS without asking again, unless a revocation is seen (a revocation made in this process
drops it at once; one made in another process within SSE_POLL_SECONDS).

So the database sees at most three small indexed queries per process and poll, however many streams are
open. Auto-increment ids can commit out of order (transaction A takes id 10, B takes 11 and commits
first): an id the reader has not seen below the highest one it has is a gap, looked up again on every
poll for GAP_SECONDS before it is given up (a rolled-back insert leaves a gap forever). A stream never
sends an event twice: it skips ids at or below the last one it sent (one order's events are written under
its row lock, so they commit in id order).
"""

import logging
import queue
import threading
import time
import weakref

import pymysql

from . import db

log = logging.getLogger(__name__)

EVENT_BATCH = 1000  # events read per poll at most; a longer backlog is read on the next polls at once
POSITION_BATCH = 5000
GAP_SECONDS = 15.0  # how long an id missing below the newest one is looked for (longer than a transaction)
MAX_GAPS = 2000
REVOKED_LOOKBACK = 60  # seconds of revocations read on each poll (covers a commit that lags its timestamp)
HUB_EVENT_COLUMNS = (
    "e.event_id, e.order_id, e.type, e.status, e.note, e.reason, e.location, e.latitude, e.longitude,"
    " e.actor_role, e.actor_name, e.created_at, e.proof, o.assigned_to"
)


class Subscriber:
    """One open stream: what it watches, and the queue the reader fills."""

    def __init__(self, order_id, courier_id, session_id):
        self.order_id = order_id
        self.courier_id = courier_id
        self.session_id = session_id
        self.inbox = queue.Queue()

    def get(self, timeout):
        """The next item ("event", row) / ("position", row) / ("revoked", None), or None after `timeout`."""
        try:
            return self.inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None


class Hub:
    """The process's one reader and the registry of its open streams."""

    def __init__(self, app):
        self.config = app.config
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.orders, self.couriers, self.sessions = {}, {}, {}
        self.valid = {}  # session id -> (role, user id, monotonic time the check expires): see check_session
        self.open = 0  # streams admitted (counted against SSE_MAX_STREAMS)
        self.thread = None
        self.conn = None
        # The reader's connection is used by the reader and, to fix its starting point, by a stream's
        # subscribe(): one at a time. Lock order: self.lock, then conn_lock (never the other way).
        self.conn_lock = threading.RLock()
        self.queries = 0  # database queries the reader ran (the benchmark reports them)
        self.stopped = False
        self._reset_cursor()
        _HUBS.add(self)

    def stop(self):
        """End the reader thread (at shutdown, or when the test database is about to be dropped)."""
        with self.lock:
            self.stopped = True
            self.wake.notify_all()

    def _reset_cursor(self):
        self.floor = None  # every event id <= floor is settled
        self.seen = set()  # ids above the floor already handed out
        self.gaps = {}  # missing id -> monotonic time first missed
        self.top = None  # the highest event id read
        self.position_floor = None

    # -- admission and subscriptions ------------------------------------------------------------------

    def admit(self):
        """Count one more open stream, or return False when SSE_MAX_STREAMS are open."""
        with self.lock:
            if self.open >= int(self.config["SSE_MAX_STREAMS"]):
                return False
            self.open += 1
            return True

    def release(self):
        with self.lock:
            self.open = max(0, self.open - 1)

    def subscribe(self, order_id, courier_id=None, session_id=None):
        """Register a stream; the reader's starting point is fixed before this returns, so the stream's own
        catch-up read (made after this) and the reader between them miss nothing."""
        sub = Subscriber(order_id, courier_id, session_id)
        with self.lock:
            if self.floor is None or not self.orders:
                # No stream was open: nothing needs the old starting point (the reader may not have
                # noticed yet), so start after the newest event, as a first stream does.
                self._reset_cursor()
                self._start_cursor()
            self.orders.setdefault(order_id, set()).add(sub)
            if courier_id is not None:
                self.couriers.setdefault(courier_id, set()).add(sub)
            if session_id is not None:
                self.sessions.setdefault(session_id, set()).add(sub)
            self._ensure_thread()
        return sub

    def unsubscribe(self, sub):
        with self.lock:
            for index, key in ((self.orders, sub.order_id), (self.couriers, sub.courier_id)):
                self._discard(index, key, sub)
            self._discard(self.sessions, sub.session_id, sub)

    @staticmethod
    def _discard(index, key, sub):
        subs = index.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del index[key]

    # -- the session check cache ------------------------------------------------------------------------

    def session_known_valid(self, session_id, role, user_id):
        """Whether this session was found live in MySQL less than SESSION_CACHE_SECONDS ago and no
        revocation has been seen since (this process's own at once, any other process's within a poll)."""
        entry = self.valid.get(session_id)
        return entry is not None and entry[:2] == (role, user_id) and entry[2] > time.monotonic()

    def remember_session(self, session_id, role, user_id):
        ttl = float(self.config.get("SESSION_CACHE_SECONDS") or 0)
        if ttl <= 0:
            return
        with self.lock:
            self.valid[session_id] = (role, user_id, time.monotonic() + ttl)
            self._ensure_thread()

    def forget_sessions(self, role, user_id, session_ids=None):
        """Drop cached checks of an account's sessions (all, or `session_ids`) as they are revoked here."""
        with self.lock:
            for sid, (r, uid, _) in list(self.valid.items()):
                if r == role and uid == user_id and (session_ids is None or sid in session_ids):
                    del self.valid[sid]

    def _ensure_thread(self):
        """Caller holds the lock."""
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
            self.thread.start()
        self.wake.notify_all()

    def _move_courier(self, sub, courier_id):
        """Caller holds the lock: the order's courier changed (an assignment)."""
        self._discard(self.couriers, sub.courier_id, sub)
        sub.courier_id = courier_id
        if courier_id is not None:
            self.couriers.setdefault(courier_id, set()).add(sub)

    # -- the reader -------------------------------------------------------------------------------------

    def _query(self, sql, args=()):
        with self.conn_lock:
            if self.conn is None:
                self.conn = pymysql.connect(**db.connect_args(self.config))
            self.queries += 1
            try:
                with self.conn.cursor() as cur:
                    cur.execute(sql, args)
                    return list(cur.fetchall())
            except pymysql.err.Error:
                self._drop_connection()
                raise

    def _drop_connection(self):
        with self.conn_lock:
            conn, self.conn = self.conn, None
            if conn is not None:
                try:
                    conn.close()
                except pymysql.err.Error:
                    pass

    def _start_cursor(self):
        """Caller holds the lock. Start after the newest event; ids just below it that are not committed
        yet are gaps (a transaction in flight), so they are delivered when they commit."""
        rows = self._query("SELECT event_id FROM order_events ORDER BY event_id DESC LIMIT 200")
        ids = {row["event_id"] for row in rows}
        top = max(ids) if ids else 0
        low = min(ids) if ids else 0
        now = time.monotonic()
        self.floor = low
        self.top = top
        self.seen = {i for i in ids if i > low}
        self.gaps = {i: now for i in range(low + 1, top) if i not in ids}
        rows = self._query("SELECT MAX(position_id) AS n FROM courier_positions")
        self.position_floor = rows[0]["n"] or 0

    def _run(self):
        failures = 0
        while True:
            with self.lock:
                if self.stopped:
                    self._drop_connection()
                    self.thread = None
                    return
                now = time.monotonic()
                for sid, entry in list(self.valid.items()):
                    if entry[2] <= now:
                        del self.valid[sid]
                if not self.orders and self.floor is not None:
                    self._reset_cursor()  # no stream: the next one starts afresh
                while not self.orders and not self.valid:
                    # Nothing to watch: stop reading until a stream opens or a session is cached.
                    self._reset_cursor()
                    self._drop_connection()
                    if self.stopped or not self.wake.wait(timeout=60):
                        if not self.orders and not self.valid:
                            self.thread = None
                            return
                if self.orders and self.floor is None:
                    try:
                        self._start_cursor()
                    except pymysql.err.Error as err:
                        log.warning("live reader cannot start: %s", err)
            started = time.monotonic()
            try:
                self.poll_once()
                failures = 0
            except pymysql.err.Error as err:
                failures += 1
                log.warning("live reader poll failed (%s); streams keep beating", err)
            except Exception:
                failures += 1
                log.exception("live reader poll failed")
            pause = float(self.config["SSE_POLL_SECONDS"]) * (1 if not failures else min(2**failures, 8))
            time.sleep(max(0.0, pause - (time.monotonic() - started)))

    def poll_once(self):
        """One round: events, positions, revocations (each only when someone needs it)."""
        with self.lock:
            events = bool(self.orders) and self.floor is not None
            positions = bool(self.couriers) and self.position_floor is not None
            revocations = bool(self.sessions or self.valid)
        if events:
            self._read_events()
        if positions:
            self._read_positions()
        if revocations:
            self._read_revocations()

    def _read_events(self):
        rows = self._query(
            f"SELECT {HUB_EVENT_COLUMNS} FROM order_events e JOIN orders o ON o.order_id = e.order_id"
            " WHERE e.event_id > %s ORDER BY e.event_id LIMIT %s",
            (max(self.top, self.floor), EVENT_BATCH),
        )
        if self.gaps:
            gap_ids = sorted(self.gaps)[:MAX_GAPS]
            placeholders = ", ".join(["%s"] * len(gap_ids))
            rows += self._query(
                f"SELECT {HUB_EVENT_COLUMNS} FROM order_events e JOIN orders o ON o.order_id = e.order_id"
                f" WHERE e.event_id IN ({placeholders}) ORDER BY e.event_id",
                tuple(gap_ids),
            )
        now = time.monotonic()
        with self.lock:
            for row in rows:
                event_id = row["event_id"]
                if event_id <= self.floor or event_id in self.seen:
                    continue
                self.seen.add(event_id)
                self.gaps.pop(event_id, None)
                if event_id > self.top:
                    for missing in range(self.top + 1, event_id):
                        if missing not in self.seen:
                            self.gaps[missing] = now
                    self.top = event_id
                for sub in list(self.orders.get(row["order_id"], ())):
                    if row["assigned_to"] != sub.courier_id:
                        self._move_courier(sub, row["assigned_to"])
                    sub.inbox.put(("event", row))
            self._settle(now)

    def _settle(self, now):
        """Caller holds the lock: give up gaps older than GAP_SECONDS and raise the floor over settled ids."""
        for missing, since in list(self.gaps.items()):
            if now - since > GAP_SECONDS:
                del self.gaps[missing]
        if len(self.gaps) > MAX_GAPS:
            for missing in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[missing]
        lowest_gap = min(self.gaps) if self.gaps else self.top + 1
        new_floor = lowest_gap - 1
        if new_floor > self.floor:
            self.floor = new_floor
            self.seen = {i for i in self.seen if i > new_floor}

    def _read_positions(self):
        rows = self._query(
            "SELECT position_id, delivery_person_id, latitude, longitude, location, recorded_at"
            " FROM courier_positions WHERE position_id > %s ORDER BY position_id LIMIT %s",
            (self.position_floor, POSITION_BATCH),
        )
        if not rows:
            return
        self.position_floor = rows[-1]["position_id"]
        latest = {}
        for row in rows:
            if row["latitude"] is None:
                continue
            best = latest.get(row["delivery_person_id"])
            if best is None or row["recorded_at"] >= best["recorded_at"]:
                latest[row["delivery_person_id"]] = row
        with self.lock:
            for courier_id, row in latest.items():
                for sub in list(self.couriers.get(courier_id, ())):
                    sub.inbox.put(("position", row))

    def _read_revocations(self):
        rows = self._query(
            "SELECT session_id FROM auth_sessions WHERE revoked_at >= UTC_TIMESTAMP(6) - INTERVAL %s SECOND",
            (REVOKED_LOOKBACK,),
        )
        with self.lock:
            for row in rows:
                self.valid.pop(row["session_id"], None)
                for sub in list(self.sessions.get(row["session_id"], ())):
                    sub.inbox.put(("revoked", None))


_HUBS = weakref.WeakSet()  # every hub of this process


def stop_all():
    """Stop every hub's reader thread in this process."""
    for found in list(_HUBS):
        found.stop()


def hub(app):
    """The app's hub (one per process and app)."""
    found = app.extensions.get("live_hub")
    if found is None:
        found = app.extensions["live_hub"] = Hub(app)
    return found
