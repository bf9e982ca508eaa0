"""The worker: several at once send each message once; a killed worker loses and duplicates nothing; signals;
backoff with jitter; a database outage is waited out."""

import random
import signal
import threading
import time
import uuid
from collections import Counter

import pytest
from helpers import count
from live_servers import free_port
from smtp_sink import drain, smtp_server, start_worker, stop_worker, use_smtp, wait_for

from courier import mailer, notifications, worker
from courier.attempts import Result
from courier.db import transaction


def queue_emails(app, n, channel="email"):
    """Queue n distinct emails directly in the outbox (one transaction), as the API would."""
    with app.app_context(), transaction():
        for i in range(n):
            event_id = uuid.uuid4().hex
            order = {"tracking_number": f"CTTEST{i:012d}", "reason": None}
            to = f"customer{i}@example.test"
            payload = mailer.order_email("order.picked_up", event_id, order, to, f"Customer {i}", app.config)
            notifications.enqueue(channel, "order.picked_up", event_id, to, payload)


def statuses(sql):
    return Counter(row["status"] for row in sql("SELECT status FROM notifications"))


def test_several_workers_send_each_message_exactly_once(app, sql):
    with smtp_server(rcpt_delay=0.002) as (sink, port):
        use_smtp(app, port)
        queue_emails(app, 60)
        results, errors = [], []

        def run(name):
            try:
                results.append(worker.drain(app, name=name, batch=4))
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert sum(results) == 60
        ids = sink.message_ids()
        assert len(ids) == 60 and set(Counter(ids).values()) == {1}
    assert statuses(sql) == {"sent": 60}
    assert count(sql, "notification_attempts") == 60 and count(sql, "notifications", "attempts = 1") == 60
    workers = {row["claimed_by"] for row in sql("SELECT DISTINCT claimed_by FROM notifications")}
    assert len(workers) >= 2  # the work really was shared


def test_killed_worker_loses_nothing_and_sends_nothing_twice(app, sql, tmp_path):
    """SIGKILL while the SMTP server is still deciding on a message; a new worker delivers the rest once each."""
    with smtp_server(rcpt_delay=0.4) as (sink, port):
        use_smtp(app, port)
        queue_emails(app, 12)
        settings = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port,
            "SMTP_STARTTLS": 0,
            "WORKER_LEASE_SECONDS": 1,
        }
        first = start_worker(tmp_path / "first.log", "--batch", "4", "--poll", "0.05", **settings)
        try:
            wait_for(lambda: len(sink.messages) >= 3 and sink.in_rcpt.is_set(), message="a message in flight")
            first.kill()  # mid-batch: one message in RCPT, the rest of the batch claimed
        finally:
            assert stop_worker(first) == -signal.SIGKILL
        accepted = len(sink.messages)
        assert statuses(sql)["sent"] == accepted
        assert count(sql, "notifications", "status = 'sending'") >= 1  # held by the dead worker's lease

        sink.rcpt_delay = 0
        second = start_worker(tmp_path / "second.log", "--poll", "0.05", **settings)
        try:
            wait_for(lambda: statuses(sql) == {"sent": 12}, message="every message sent")
        finally:
            assert stop_worker(second) == 0, second.log_path.read_text()
        ids = sink.message_ids()
    assert len(ids) == 12 and set(Counter(ids).values()) == {1}  # none lost, none twice
    retaken = sql("SELECT * FROM notifications WHERE attempts = 2")
    assert retaken  # the killed worker's claim counted as an attempt; its attempt was never logged
    for row in retaken:
        assert count(sql, "notification_attempts", "notification_id = %s", (row["notification_id"],)) == 1
    assert "stopped" in second.log_path.read_text()


def test_sigterm_finishes_the_current_message_and_releases_the_rest(app, sql, tmp_path):
    with smtp_server(rcpt_delay=0.3) as (sink, port):
        use_smtp(app, port)
        queue_emails(app, 6)
        settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_STARTTLS": 0}
        proc = start_worker(tmp_path / "worker.log", "--batch", "6", "--poll", "0.05", **settings)
        try:
            wait_for(lambda: len(sink.messages) >= 1 and sink.in_rcpt.is_set(), message="a message in flight")
            proc.terminate()
            code = proc.wait(timeout=10)
        finally:
            stop_worker(proc)
        assert code == 0, proc.log_path.read_text()
        assert len(sink.messages) == 2  # the one in flight was finished
    assert statuses(sql) == {"sent": 2, "pending": 4}
    released = sql("SELECT * FROM notifications WHERE status = 'pending'")
    assert {(row["attempts"], row["claim_token"]) for row in released} == {(0, None)}
    assert all(row["due_at"] is not None for row in released)
    assert "SIGTERM received" in proc.log_path.read_text()


def test_idle_worker_stops_on_sigterm_and_sigint(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = start_worker(tmp_path / f"{sig.name}.log", "--poll", "5")
        wait_for(lambda p=proc: "started" in p.log_path.read_text(), message="worker start")
        started = time.monotonic()
        assert stop_worker(proc, sig) == 0
        assert time.monotonic() - started < 3  # not waiting out the 5 s poll


def test_worker_waits_out_a_database_outage(tmp_path):
    proc = start_worker(tmp_path / "down.log", MYSQL_PORT=free_port(), MYSQL_CONNECT_TIMEOUT=1)
    try:
        wait_for(lambda: proc.log_path.read_text().count("database unavailable") >= 2, message="two retries")
        assert proc.poll() is None  # still running, no crash loop
    finally:
        assert stop_worker(proc) == 0


def test_once_delivers_what_is_due_and_exits(app, sql, tmp_path):
    with smtp_server() as (sink, port):
        use_smtp(app, port)
        queue_emails(app, 3)
        settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_STARTTLS": 0}
        proc = start_worker(tmp_path / "once.log", "--once", "--name", "cron-1", **settings)
        assert proc.wait(timeout=20) == 0
        stop_worker(proc)
        assert "Processed 3 notification(s)." in proc.log_path.read_text()
        assert len(sink.messages) == 3
    assert {row["claimed_by"] for row in sql("SELECT claimed_by FROM notifications")} == {"cron-1"}


def test_unknown_sms_provider_stops_the_worker_at_start(tmp_path):
    proc = start_worker(tmp_path / "sms.log", "--once", SMS_PROVIDER="carrier-pigeon")
    assert proc.wait(timeout=20) == 1
    stop_worker(proc)
    output = proc.log_path.read_text()
    assert "Unknown SMS_PROVIDER 'carrier-pigeon'" in output and "log" in output


def test_backoff_grows_with_jitter():
    rng = random.Random(7)
    for attempts in range(1, 8):
        full = min(10 * 2 ** (attempts - 1), 300)
        samples = [worker.backoff_seconds(attempts, 10, 300, rng) for _ in range(200)]
        assert all(full / 2 <= s <= full for s in samples)
        assert len(set(samples)) == 200  # jittered
        assert max(samples) - min(samples) > full / 4  # spread across the window
    assert worker.backoff_seconds(10_000, 10, 300) <= 300  # capped, no overflow
    means = [sum(worker.backoff_seconds(a, 10, 10_000, rng) for _ in range(100)) / 100 for a in range(1, 6)]
    assert means == sorted(means) and means[-1] > 8 * means[0]


def test_failed_attempt_is_due_after_the_backoff(app, sql):
    use_smtp(app, free_port(), NOTIFY_BACKOFF_SECONDS=10, NOTIFY_BACKOFF_MAX_SECONDS=100)
    queue_emails(app, 5)
    assert drain(app) == 5
    delays = [
        row["d"]
        for row in sql("SELECT TIMESTAMPDIFF(MICROSECOND, updated_at, due_at) / 1e6 AS d FROM notifications")
    ]
    assert all(4.9 <= float(d) <= 10.1 for d in delays), delays
    assert len(set(delays)) > 1  # jitter
    assert drain(app) == 0  # not due yet


def test_a_send_that_raises_is_a_failed_attempt(app, sql):
    app.config.update(SMS_PROVIDER="log", NOTIFY_BACKOFF_SECONDS=60)
    with app.app_context(), transaction():
        notifications.enqueue("sms", "order.picked_up", uuid.uuid4().hex, "+4400", {"text": "no 'to' key"})
        notifications.enqueue(
            "sms", "order.picked_up", uuid.uuid4().hex, "+4401", {"to": "+4401", "text": "ok"}
        )
    assert drain(app) == 2
    broken, fine = sql("SELECT * FROM notifications ORDER BY notification_id")
    assert (broken["status"], broken["attempts"]) == ("pending", 1)
    assert broken["last_error"].startswith("KeyError")
    attempt = sql(
        "SELECT * FROM notification_attempts WHERE notification_id = %s", (broken["notification_id"],)
    )
    assert attempt[0]["ok"] == 0 and attempt[0]["error"].startswith("KeyError")
    assert fine["status"] == "sent"


def test_a_worker_whose_lease_ran_out_cannot_settle_the_row(app, sql):
    queue_emails(app, 1)
    with app.app_context():
        (stale,) = worker.claim("slow", 5, lease=0.1)
    time.sleep(0.15)
    with app.app_context():
        (fresh,) = worker.claim("fast", 5, lease=60)
        assert fresh["notification_id"] == stale["notification_id"] and fresh["attempts"] == 2
        assert worker.finish(stale, Result(False, error="late"), 5, "slow") is None
        row = sql("SELECT * FROM notifications", one=True)
        assert (row["status"], row["claimed_by"], row["claim_token"]) == (
            "sending",
            "fast",
            fresh["claim_token"],
        )
        assert worker.finish(fresh, Result(True, status_code=250), 5, "fast") == "sent"
    row = sql("SELECT * FROM notifications", one=True)
    assert (row["status"], row["last_status_code"], row["claim_token"]) == ("sent", 250, None)
    assert [a["worker"] for a in sql("SELECT worker FROM notification_attempts ORDER BY attempt_id")] == [
        "slow",
        "fast",
    ]


@pytest.mark.parametrize("permanent", [True, False])
def test_webhook_rows_give_up_at_their_deadline(app, sql, permanent):
    """Webhook rows have no attempt limit: they park at give_up_at (or at once on a permanent failure)."""
    sql("INSERT INTO webhooks (url, events, secret) VALUES ('http://127.0.0.1:9/', 'order.created', 's')")
    webhook_id = sql("SELECT webhook_id FROM webhooks", one=True)["webhook_id"]
    if permanent:
        sql("UPDATE webhooks SET deleted_at = UTC_TIMESTAMP(6)")  # a deleted endpoint: retrying cannot help
    else:
        app.config.update(WEBHOOK_RETRY_HOURS=0)  # the deadline has passed when the attempt fails
    with app.app_context(), transaction():
        notifications.enqueue("webhook", "order.created", uuid.uuid4().hex, "http://127.0.0.1:9/", {"a": 1},
                              webhook_id=webhook_id)  # fmt: skip
    drain(app)
    row = sql("SELECT * FROM notifications", one=True)
    assert (row["status"], row["attempts"], row["max_attempts"], row["due_at"]) == ("failed", 1, None, None)


def test_release_gives_untried_rows_back(app, sql):
    queue_emails(app, 3)
    with app.app_context():
        rows = worker.claim("w", 3, lease=60)
        worker.release(rows[1:])
    by_id = {row["notification_id"]: row for row in sql("SELECT * FROM notifications")}
    assert by_id[rows[0]["notification_id"]]["status"] == "sending"
    for row in rows[1:]:
        stored = by_id[row["notification_id"]]
        assert (stored["status"], stored["attempts"], stored["claim_token"]) == ("pending", 0, None)


def test_drain_leaves_retries_for_the_next_call(app, sql):
    use_smtp(app, free_port(), NOTIFY_BACKOFF_SECONDS=0, NOTIFY_BACKOFF_MAX_SECONDS=0)
    queue_emails(app, 2)
    assert drain(app) == 2  # each once, although each is due again at once
    assert drain(app) == 2
    assert {row["attempts"] for row in sql("SELECT attempts FROM notifications")} == {2}
