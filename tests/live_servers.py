"""Real API server processes for the tests that need more than the in-process test client.

Each is `python app1.py` on a free port, on the suite's test database, sharing nothing but MySQL.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import TEST_DB, _config

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(port, proc, log_path):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server on :{port} exited:\n{Path(log_path).read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"server on :{port} did not start:\n{Path(log_path).read_text()}")


@contextmanager
def start_servers(log_dir, names=("a", "b"), **settings):
    """Start one server process per name; yield {name: port, "procs": [...]}; stop them all at the end."""
    config = _config()
    started, ports = [], {}
    try:
        for name in names:
            port = free_port()
            env = {
                **os.environ,
                "MYSQL_DB": TEST_DB,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "JWT_SECRET_KEY": config["JWT_SECRET_KEY"],  # tokens from the test fixtures work here too
                "BCRYPT_LOG_ROUNDS": "4",
                "FLASK_DEBUG": "0",
                "DB_POOL_SIZE": "20",
                "PYTHONUNBUFFERED": "1",
                **{key: str(value) for key, value in settings.items()},
            }
            log_path = Path(log_dir) / f"{name}.log"
            log = open(log_path, "w")  # noqa: SIM115 - closed below, after the process stops
            proc = subprocess.Popen(
                [sys.executable, "app1.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            started.append((proc, log))
            wait_until_up(port, proc, log_path)
            ports[name] = port
        yield {**ports, "procs": [proc for proc, _ in started]}
    finally:
        for proc, log in started:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            log.close()


def call(port, method, path, user=None, body=None, headers=None):
    """One real HTTP request; returns (status, JSON body) for success and error statuses alike."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if user is not None:
        request.add_header("Authorization", f"Bearer {user.token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())
