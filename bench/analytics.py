"""Benchmark GET /admin/analytics and GET /admin/orders/export.csv on the 1,000,000-order database.

    .venv/bin/python bench/analytics.py

Uses the database bench/run.py uses (courier_bench_1000000, made once with gen-data and then reused; an older
one is brought to the current schema first), starts the production server (gunicorn -c gunicorn.conf.py, one
gevent worker so its memory is the export's), and over HTTP:

- times the analytics endpoint for several ranges (5 runs each after a warm-up) against the 1 s target;
- downloads the CSV export of ~1,000 orders and then of every order, and reports the worker's peak RSS
  (VmHWM) after each, and its RSS sampled during the big one.

Environment: BENCH_LARGE (orders, default 1000000), BENCH_RUNS (timed runs per range, default 5).
"""

import importlib.util
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymysql  # noqa: E402

from courier.db import apply_schema, connect_args  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
bench_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_run)

LARGE = int(os.environ.get("BENCH_LARGE") or 1_000_000)
RUNS = int(os.environ.get("BENCH_RUNS") or 5)
TARGET_SECONDS = 1.0
SMALL_EXPORT = 1_000


def migrate(config):
    """Bring a reused database to the current schema (a migration on 1M rows takes longer than 4 s)."""
    conn = pymysql.connect(**{**connect_args(config), "read_timeout": 3600, "write_timeout": 3600})
    try:
        apply_schema(conn)
    finally:
        conn.close()


def admin_token(config, base):
    conn = pymysql.connect(**connect_args(config))
    with conn.cursor() as cur:
        bench_run.add_bench_admin(cur)
        # The creation time of the 1,000th newest order: exporting from it gives ~1,000 rows.
        cur.execute(
            "SELECT created_at FROM orders ORDER BY created_at DESC LIMIT 1 OFFSET %s", (SMALL_EXPORT - 1,)
        )
        small_from = cur.fetchone()["created_at"]
    conn.close()
    body = bench_run.post_json(base + "/login", {"username": "bench-admin", "password": "password123"})
    return body["token"], small_from


def get(base, path, token):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


def status_value(pid, key):
    """A /proc/<pid>/status figure in MiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def time_analytics(base, token, label, query):
    get(base, "/admin/analytics" + query, token)  # warm-up
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        status, body = get(base, "/admin/analytics" + query, token)
        times.append(time.perf_counter() - started)
        assert status == 200, body
    data = json.loads(body)
    median = statistics.median(times)
    verdict = "under 1 s" if median < TARGET_SECONDS else "over 1 s"
    print(
        f"  {label:<22} {data['orders']['total']:>9} orders  median {median * 1000:7.1f} ms"
        f"  min {min(times) * 1000:7.1f}  max {max(times) * 1000:7.1f}"
        f"  = {median / TARGET_SECONDS:.2f} x the 1 s target  {verdict}",
        flush=True,
    )
    return median


def export(base, token, query, worker):
    """Download an export in 64 KiB reads; return rows, bytes, seconds and the RSS sampled meanwhile."""
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            samples.append(status_value(worker, "VmRSS"))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    request = urllib.request.Request(
        base + "/admin/orders/export.csv" + query, headers={"Authorization": f"Bearer {token}"}
    )
    started = time.perf_counter()
    sampler.start()
    rows = size = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        assert response.status == 200
        while chunk := response.read(65536):
            rows += chunk.count(b"\n")
            size += len(chunk)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return rows - 1, size, elapsed, max(samples)


def main():
    config = bench_run.dataset(LARGE)
    migrate(config)
    os.environ["WEB_CONCURRENCY"] = "1"  # one worker: its memory is the exports' memory
    server = bench_run.Server(config)
    try:
        token, small_from = admin_token(config, server.base)
        (worker,) = server.workers()
        get(server.base, "/healthz", token)
        print(f"# Analytics and CSV export on {config['MYSQL_DB']} (gunicorn, 1 gevent worker)", flush=True)

        print("\n## CSV export: the worker's memory", flush=True)
        base_hwm = status_value(worker, "VmHWM")
        print(f"  before any export: VmRSS {status_value(worker, 'VmRSS'):.1f} MiB, peak {base_hwm:.1f} MiB")
        since = urllib.parse.quote(small_from.isoformat() + "Z")
        rows, size, elapsed, sampled = export(server.base, token, f"?created_from={since}", worker)
        small_hwm = status_value(worker, "VmHWM")
        print(
            f"  {rows:>9} orders: {size / 2**20:7.1f} MiB in {elapsed:6.2f} s;"
            f" peak RSS {small_hwm:.1f} MiB (sampled max {sampled:.1f})"
        )
        rows, size, elapsed, sampled = export(server.base, token, "", worker)
        large_hwm = status_value(worker, "VmHWM")
        print(
            f"  {rows:>9} orders: {size / 2**20:7.1f} MiB in {elapsed:6.2f} s ({rows / elapsed:,.0f} rows/s);"
            f" peak RSS {large_hwm:.1f} MiB (sampled max {sampled:.1f})"
        )
        growth = large_hwm - small_hwm
        verdict = "PASS" if large_hwm <= small_hwm * 1.1 else "MISS"
        print(
            f"  peak RSS, all orders vs ~{SMALL_EXPORT}: {large_hwm:.1f} vs {small_hwm:.1f} MiB"
            f" ({growth:+.1f} MiB, x {large_hwm / small_hwm:.2f}): constant memory (within 10 %) {verdict}"
        )

        print(
            f"\n## GET /admin/analytics ({RUNS} runs each after a warm-up; target: a 30-day range under {TARGET_SECONDS:.0f} s)"
        )
        now = datetime.now(UTC).replace(tzinfo=None)

        def span(days):
            start = (now - timedelta(days=days)).isoformat() + "Z"
            return f"?from={urllib.parse.quote(start)}&to={urllib.parse.quote(now.isoformat() + 'Z')}"

        medians = {
            "default (30 days)": time_analytics(server.base, token, "default (30 days)", ""),
            "7 days": time_analytics(server.base, token, "7 days", span(7)),
            "30 days": time_analytics(server.base, token, "30 days", span(30)),
            "90 days": time_analytics(server.base, token, "90 days", span(90)),
            "365 days": time_analytics(server.base, token, "365 days", span(365)),
        }
        thirty = medians["30 days"]
        print(
            f"\n  30-day range: {thirty * 1000:.0f} ms = {thirty / TARGET_SECONDS:.2f} x the 1 s target:"
            f" {'PASS' if thirty < TARGET_SECONDS else 'MISS'}"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
