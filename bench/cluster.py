"""`make bench-cluster`: throughput of one node against two nodes behind HAProxy, in one run, with wrk.

On the 1,000-order bench database (bench/run.py makes it once), with every process sharing one MySQL and
one Redis (the rate limits, lifted for the run, still count in Redis as in production):

  A. one gunicorn node (one gevent worker), wrk straight at it;
  B. the same node behind HAProxy (what the proxy hop costs);
  C. two nodes (one gevent worker each) behind HAProxy.

Each endpoint runs BENCH_DURATION seconds (default 5) at BENCH_CONNECTIONS (default 32). The table goes to
stdout and bench/CLUSTER.md. On a machine with fewer cores than nodes + MySQL + HAProxy + wrk, C shows the
overhead of the extra hop and processes, not a speed-up.
"""

import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402  (bench/run.py: dataset, fixtures, wrk scripts)

from tools.cluster import Cluster, check_redis, free_port  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
NAMES = ("healthz", "track-order", "track (public)", "update-location")


class Base:
    def __init__(self, url):
        self.base = url


def env(config):
    return {
        "MYSQL_DB": config["MYSQL_DB"],
        "JWT_SECRET_KEY": "bench-secret-" + "b" * 40,
        "FLASK_DEBUG": "0",
        "BCRYPT_LOG_ROUNDS": "12",
        "TRACK_RATE_LIMIT": "100000000 per minute",
        "LOGIN_LIMIT_PER_IP": "100000000 per minute",
        "LOGIN_LIMIT_PER_ACCOUNT": "100000000 per minute",
        "LOGIN_LIMIT_KEY_PREFIX": "bench-cluster",
        "REDIS_URL": REDIS_URL,
        "TRUSTED_PROXIES": "1",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "warning",
    }


def measure(label, url, scripts, results):
    for name, script in scripts:
        figures = run.wrk(url, script)
        results.setdefault(name, {})[label] = figures
        run.say(
            f"  {label:28} {name:16} {figures['rps']:8.0f} req/s  p50 {figures['p50']:6.1f} ms"
            f"  p99 {figures['p99']:6.1f} ms  errors {figures['errors']}"
        )


def main():
    run.ensure_wrk()
    run.OUT.mkdir(parents=True, exist_ok=True)
    check_redis(REDIS_URL)
    config = run.dataset(run.SMALL)
    results = {}
    with tempfile.TemporaryDirectory(prefix="courier-bench-cluster-") as tmp:
        one = Cluster(Path(tmp) / "one", free_port(), [free_port()], workers=0, env=env(config)).start()
        try:
            fx = run.fixtures(config, Base(one.url))
            scripts = [(name, script) for name, script in run.endpoints(fx) if name in NAMES]
            node_url = f"http://127.0.0.1:{one.nodes['node1']}"
            measure("A: one node", node_url, scripts, results)
            measure("B: one node behind HAProxy", one.url, scripts, results)
        finally:
            one.stop()
        two = Cluster(Path(tmp) / "two", free_port(), workers=0, env=env(config)).start()
        try:
            measure("C: two nodes behind HAProxy", two.url, scripts, results)
        finally:
            two.stop()
    labels = ("A: one node", "B: one node behind HAProxy", "C: two nodes behind HAProxy")
    lines = [
        f"# One node against two behind HAProxy ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"{os.cpu_count()} cores, {platform.machine()}, {run.DURATION} s per endpoint at {run.CONNECTIONS}"
        " connections (wrk, 2 threads), 1,000 orders; MySQL, Redis, HAProxy, the nodes and wrk share the machine"
        f" (load average {os.getloadavg()[0]:.1f} at the end of the run).",
        "",
        "| endpoint | " + " | ".join(labels) + " | C / A |",
        "|---|" + "---:|" * (len(labels) + 1),
    ]
    for name in NAMES:
        row = results[name]
        cells = [f"{row[label]['rps']:.0f} req/s (p99 {row[label]['p99']:.0f} ms)" for label in labels]
        ratio = row[labels[2]]["rps"] / row[labels[0]]["rps"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "CLUSTER.md").write_text(text)
    run.say("\n" + text)


if __name__ == "__main__":
    main()
