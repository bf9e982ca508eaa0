"""A freshly started demo server: a new database with the demo data (seed.sql), served by `python app1.py`
on a free loopback port, as a new user gets it from `make run`. The database is dropped afterwards.

    with demo_server() as base:          # "http://127.0.0.1:<port>"
        ...

Used by the contract checks (tools/contract.py) and the README examples test (tests/test_readme_examples.py).
"""

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pymysql

from courier import db
from courier.config import from_env

ROOT = Path(__file__).resolve().parent.parent
# The demo's own settings (.env.example with SMS_PROVIDER=log), whatever the developer's .env says.
# WEBHOOK_ALLOW_PRIVATE: a webhook URL's host must otherwise resolve, and these machines have no DNS; the demo
# server runs no worker, so nothing is ever sent to the examples' URLs.
DEMO_SETTINGS = {
    "SMS_PROVIDER": "log",
    "SMTP_HOST": "",
    "REDIS_URL": "",
    "RATELIMIT_ENABLED": "1",
    "WEBHOOK_ALLOW_PRIVATE": "1",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base, proc, log_path, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo server exited:\n{Path(log_path).read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the demo server did not start:\n{Path(log_path).read_text()}")


@contextmanager
def demo_server(log_path=None, **settings):
    """Yield the base URL of a demo server on a new database; `settings` override the environment."""
    name = f"courier_demo_{secrets.token_hex(5)}"
    config = {**from_env(), "MYSQL_DB": name}
    db.init_db(config, seed=True)
    port = free_port()
    env = {
        **os.environ,
        **DEMO_SETTINGS,
        "MYSQL_DB": name,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "FLASK_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
        **{key: str(value) for key, value in settings.items()},
    }
    with tempfile.TemporaryDirectory() as workdir:
        log_path = log_path or Path(workdir) / "server.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "app1.py")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, proc, log_path)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            conn = pymysql.connect(**db.connect_args(config, database=False))
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()
