"""`flask --app app1 worker`: deliver queued notifications (claims rows with FOR UPDATE SKIP LOCKED).

A worker claims a batch of due rows in one short transaction: each gets status 'sending', one more attempt, a
fresh claim token and a lease (its due_at moves to the end of the lease). It then sends each row and finishes
it, guarded by its claim token: sent, failed (parked), or pending again after a backoff with jitter. A worker
that dies mid-batch holds its rows only until their lease ends; then any worker takes them over. A live
worker renews the lease of the rest of its batch as it goes (Lease), so it never loses a claim, however slow
its receivers. Several workers can run at once: SKIP LOCKED hands each due row to exactly one of them.
Delivery is at-least-once: a message is sent twice only when a worker dies (or is cut off from the database)
after sending it and before recording it.

Once a day (and at start) a worker also deletes courier trail points older than POSITION_RETENTION_DAYS
(courier.positions.purge, in small batches).
"""

import logging
import os
import random
import signal
import socket
import threading
import time
import uuid

import click
import pymysql
from flask import current_app
from flask.cli import with_appcontext

from . import geocoding, mailer, metrics, positions, sms, webhooks
from .attempts import Result
from .db import execute, query, transaction

log = logging.getLogger("courier.worker")

DB_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError)
MAX_DB_WAIT_SECONDS = 30
PURGE_EVERY_SECONDS = 24 * 3600  # courier trail retention runs once a day
ROW_COLUMNS = (
    "notification_id, channel, event_type, event_id, order_id, order_event_id, issue_id, webhook_id, recipient,"
    " payload, status, attempts, max_attempts, give_up_at, due_at, claim_token, claimed_by, created_at"
)


def default_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempts, base, cap, rng=random):
    """Seconds before the next try after `attempts` failed ones: base * 2^(attempts-1), capped, with jitter.

    The jitter ("equal jitter") keeps at least half the delay, so the delay still grows with each attempt
    while workers retrying the same receiver spread out.
    """
    delay = min(base * 2 ** min(max(attempts - 1, 0), 60), cap)
    return delay / 2 + rng.uniform(0, delay / 2)


def _micro(seconds):
    return int(seconds * 1_000_000)


def claim(name, batch, lease, cutoff=None):
    """Claim up to `batch` due rows (due by `cutoff` when given) for this worker; return them."""
    token = uuid.uuid4().hex
    # READ COMMITTED: lock only the rows taken, not the gaps where new notifications are being inserted.
    execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    with transaction():
        due = "%s" if cutoff is not None else "UTC_TIMESTAMP(6)"
        rows = query(
            f"SELECT notification_id FROM notifications WHERE due_at <= {due}"
            " AND status IN ('pending', 'sending') ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED",
            (cutoff, batch) if cutoff is not None else (batch,),
        )
        if not rows:
            return []
        ids = [row["notification_id"] for row in rows]
        marks = ", ".join(["%s"] * len(ids))
        execute(
            "UPDATE notifications SET status = 'sending', attempts = attempts + 1, claim_token = %s,"
            " claimed_by = %s, due_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND)"
            f" WHERE notification_id IN ({marks})",
            (token, name[:100], _micro(lease), *ids),
        )
        return query(
            f"SELECT {ROW_COLUMNS} FROM notifications WHERE notification_id IN ({marks})"
            " ORDER BY notification_id",
            ids,
        )


def renew(rows, lease):
    """Extend the lease of claimed rows not yet sent; return those this worker still holds.

    Called as a batch goes on, so that a live worker never loses a claim however long its batch takes (a
    row is sent twice only when its worker dies mid-send and the lease runs out: at-least-once).
    """
    if not rows:
        return []
    ids = [row["notification_id"] for row in rows]
    marks = ", ".join(["%s"] * len(ids))
    execute(
        "UPDATE notifications SET due_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND)"
        f" WHERE claim_token = %s AND status = 'sending' AND notification_id IN ({marks})",
        (_micro(lease), rows[0]["claim_token"], *ids),
    )
    held = {
        row["notification_id"]
        for row in query(
            f"SELECT notification_id FROM notifications WHERE claim_token = %s AND notification_id IN ({marks})",
            (rows[0]["claim_token"], *ids),
        )
    }
    return [row for row in rows if row["notification_id"] in held]


class Lease:
    """Keeps a claimed batch's lease fresh: renewed before a send once a third of it has passed."""

    def __init__(self, rows, lease, clock=time.monotonic):
        self.rows, self.lease, self.clock = rows, lease, clock
        self.renewed = clock()
        self.held = {row["notification_id"] for row in rows}

    def still_held(self, index):
        """Whether the batch's row at `index` may be sent (renewing the rest of the batch when due)."""
        if self.clock() - self.renewed >= self.lease / 3:
            remaining = [row for row in self.rows[index:] if row["notification_id"] in self.held]
            self.held = {row["notification_id"] for row in renew(remaining, self.lease)}
            self.renewed = self.clock()
        row = self.rows[index]
        if row["notification_id"] not in self.held:
            log.warning("notification %s: claim lost before sending; skipped", row["notification_id"])
            return False
        return True


def release(rows):
    """Give claimed rows that were never tried back to the queue (due now, the attempt not counted)."""
    for row in rows:
        execute(
            "UPDATE notifications SET status = 'pending', attempts = GREATEST(attempts, 1) - 1,"
            " due_at = UTC_TIMESTAMP(6), claim_token = NULL"
            " WHERE notification_id = %s AND claim_token = %s",
            (row["notification_id"], row["claim_token"]),
        )


def send(row):
    """Deliver one row over its channel; every channel answers with an attempts.Result."""
    if row["channel"] == "email":
        return mailer.send(row)
    if row["channel"] == "sms":
        return sms.send(row)
    return webhooks.deliver(row)


def attempt(row):
    """Send one row; an exception becomes a failed attempt. Returns (result, duration in ms)."""
    started = time.monotonic()
    try:
        result = send(row)
    except Exception as exc:  # a bug or a surprise in one channel must not stop the worker
        log.exception("sending notification %s failed", row["notification_id"])
        result = Result(False, error=f"{type(exc).__name__}: {exc}")
    return result, int((time.monotonic() - started) * 1000)


def finish(row, result, duration_ms, name):
    """Record the attempt and settle the row (if this worker still holds it): sent, failed, or retried later."""
    config = current_app.config
    error = None if result.ok else (result.error or "failed")[:1000]
    with transaction():
        current = query(
            "SELECT attempts, max_attempts, (give_up_at IS NOT NULL AND give_up_at <= UTC_TIMESTAMP(6)) AS expired"
            " FROM notifications WHERE notification_id = %s AND claim_token = %s FOR UPDATE",
            (row["notification_id"], row["claim_token"]),
            one=True,
        )
        execute(
            "INSERT INTO notification_attempts (notification_id, attempt, ok, status_code, error, duration_ms,"
            " worker) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                row["notification_id"],
                row["attempts"],
                result.ok,
                result.status_code,
                error,
                duration_ms,
                name[:100],
            ),
        )
        if current is None:  # the lease ran out and another worker took the row over: it decides
            log.warning("notification %s: claim lost before it was settled", row["notification_id"])
            return None
        if result.ok:
            status, delay = "sent", None
        elif (
            result.permanent
            or (current["max_attempts"] is not None and current["attempts"] >= current["max_attempts"])
            or current["expired"]
        ):
            status, delay = "failed", None
        else:
            status = "pending"
            delay = backoff_seconds(
                current["attempts"], config["NOTIFY_BACKOFF_SECONDS"], config["NOTIFY_BACKOFF_MAX_SECONDS"]
            )
        execute(
            "UPDATE notifications SET status = %s, claim_token = NULL, last_status_code = %s, last_error = %s,"
            " sent_at = IF(%s, UTC_TIMESTAMP(6), sent_at),"
            " due_at = IF(%s IS NULL, NULL, DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND))"
            " WHERE notification_id = %s AND claim_token = %s",
            (
                status,
                result.status_code,
                error,
                result.ok,
                delay,
                _micro(delay or 0),
                row["notification_id"],
                row["claim_token"],
            ),
        )
        if row["channel"] == "webhook" and row["webhook_id"] is not None:
            webhooks.record_result(row["webhook_id"], result.ok)
    return status


def process(row, name):
    """Send one claimed row and settle it; returns its new status (None if the claim was lost)."""
    result, duration_ms = attempt(row)
    metrics.observe_delivery(row, result, duration_ms)
    status = finish(row, result, duration_ms, name)
    level = logging.INFO if result.ok else logging.WARNING
    detail = "" if result.ok else f": {result.error}"
    log.log(
        level,
        "notification %s (%s, %s): %s%s",
        row["notification_id"],
        row["channel"],
        row["event_type"],
        status or "claim lost",
        detail,
    )
    return status


def _now():
    return query("SELECT UTC_TIMESTAMP(6) AS now", one=True)["now"]


def drain(app, name="test", batch=None, lease=None):
    """Process every row that was due when drain was called, once each, and return how many.

    Retries scheduled meanwhile are due later, so they wait for the next call. Used by --once and by tests.
    """
    batch = batch or app.config["WORKER_BATCH"]
    lease = lease or app.config["WORKER_LEASE_SECONDS"]
    processed = 0
    with app.app_context():
        cutoff = _now()
        processed += geocoding.geocode_pending(app.config, 10**6)
        while rows := claim(name, batch, lease, cutoff):
            held = Lease(rows, lease)
            for index, row in enumerate(rows):
                if held.still_held(index):
                    process(row, name)
                processed += 1
    return processed


class Stopper:
    """Turns SIGTERM and SIGINT into a request to stop after the current message."""

    def __init__(self):
        self.event = threading.Event()

    def install(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if not self.event.is_set():
            log.info("%s received: stopping after the current message", signal.Signals(signum).name)
        self.event.set()

    @property
    def stopping(self):
        return self.event.is_set()

    def wait(self, seconds):
        self.event.wait(seconds)


def work_batch(name, batch, lease, stopper):
    """Claim one batch and process it, stopping early (and releasing the rest) when asked to. Returns a count."""
    geocoded = geocoding.geocode_pending(current_app.config, batch)
    rows = claim(name, batch, lease)
    held = Lease(rows, lease)
    for index, row in enumerate(rows):
        if stopper.stopping:
            release(rows[index:])
            return index
        if not held.still_held(index):
            continue
        try:
            process(row, name)
        except DB_ERRORS:
            raise
        except Exception:  # the row stays claimed until its lease ends, then it is tried again
            log.exception("settling notification %s failed", row["notification_id"])
    return len(rows) + geocoded


def purge_if_due(app, last_purge, clock=time.monotonic):
    """Purge old courier trail points once every PURGE_EVERY_SECONDS; return when it last ran."""
    now = clock()
    if last_purge is not None and now - last_purge < PURGE_EVERY_SECONDS:
        return last_purge
    with app.app_context():
        deleted = positions.purge(pause=0.01)
    log.info(
        "purged %s courier trail point(s) older than %s days", deleted, app.config["POSITION_RETENTION_DAYS"]
    )
    return now


def run(app, name, batch, poll, lease, stopper):
    """Poll and deliver until stopped; a database outage is waited out, never a crash. Once a day it
    also purges courier trail points older than POSITION_RETENTION_DAYS."""
    log.info("worker %s started (batch %s, poll %ss, lease %ss)", name, batch, poll, lease)
    with app.app_context():
        longest = max(app.config["WEBHOOK_TIMEOUT_SECONDS"], app.config["SMTP_TIMEOUT_SECONDS"])
    if lease < 2 * longest:
        log.warning(
            "lease %ss is shorter than twice the longest send (%ss): a slow send may lose its batch's claims",
            lease,
            longest,
        )
    failures = 0
    last_purge = None
    while not stopper.stopping:
        metrics.worker_polled()
        try:
            last_purge = purge_if_due(app, last_purge)
            with app.app_context():
                done = work_batch(name, batch, lease, stopper)
            failures = 0
        except DB_ERRORS as exc:
            failures += 1
            wait = min(2 ** (failures - 1), MAX_DB_WAIT_SECONDS)
            log.warning("database unavailable (%s); retrying in %ss", exc, wait)
            stopper.wait(wait)
            continue
        except Exception:
            failures += 1
            wait = min(2 ** (failures - 1), MAX_DB_WAIT_SECONDS)
            log.exception("worker error; retrying in %ss", wait)
            stopper.wait(wait)
            continue
        if done == 0:
            stopper.wait(poll)
    log.info("worker %s stopped", name)


def _configure_logging():
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--batch", type=click.IntRange(1, 1000), help="Messages claimed at once [WORKER_BATCH].")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    help="Seconds between polls of an empty queue [WORKER_POLL_SECONDS].",
)
@click.option("--lease", type=click.FloatRange(min=0.1), help="Seconds a claim lasts [WORKER_LEASE_SECONDS].")
@click.option("--name", help="This worker's name in the attempt log [host:pid].")
@with_appcontext
def worker_command(once, batch, poll, lease, name):
    """Deliver queued notifications (email, SMS, webhooks); several workers may run at once."""
    app = current_app._get_current_object()
    config = app.config
    try:
        sms.provider(config)
    except sms.UnknownProvider as exc:
        raise click.ClickException(str(exc)) from None
    _configure_logging()
    name = name or default_name()
    batch = batch or config["WORKER_BATCH"]
    lease = lease or config["WORKER_LEASE_SECONDS"]
    if once:
        count = drain(app, name, batch, lease)
        click.echo(f"Processed {count} notification(s).")
        return
    stopper = Stopper()
    stopper.install()
    metrics.serve_worker_metrics(app)
    run(app, name, batch, poll or config["WORKER_POLL_SECONDS"], lease, stopper)


def init_app(app):
    """Register the worker CLI command."""
    app.cli.add_command(worker_command)
