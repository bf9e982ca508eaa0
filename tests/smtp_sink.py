"""A real SMTP server in the test process (aiosmtpd) that keeps what it receives, and notification helpers."""

import asyncio
import email
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller
from conftest import TEST_DB, _config
from jsonschema import Draft202012Validator
from live_servers import ROOT, free_port

from courier import openapi, worker


class Sink:
    """An aiosmtpd handler: records accepted messages; can be slow or refuse at RCPT time."""

    def __init__(self, rcpt_delay=0.0, refuse=None):
        self.rcpt_delay = rcpt_delay
        self.refuse = refuse  # e.g. "550 5.1.1 No such user"
        self.messages = []
        self.in_rcpt = threading.Event()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        if self.rcpt_delay:
            self.in_rcpt.set()
            await asyncio.sleep(self.rcpt_delay)  # slow BEFORE accepting: a client killed now sent nothing
            self.in_rcpt.clear()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def message_ids(self):
        with self.lock:
            return [message["Message-ID"] for message in self.messages]


@contextmanager
def smtp_server(port=None, controller_options=None, **sink_options):
    """Run a Sink on 127.0.0.1 (a free port unless given); yield (sink, port)."""
    port = port or free_port()
    sink = Sink(**sink_options)
    controller = Controller(sink, hostname="127.0.0.1", port=port, **(controller_options or {}))
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def use_smtp(app, port, **extra):
    """Point the app at a local SMTP server (no STARTTLS, no login), fast retries."""
    settings = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_STARTTLS": False,
        "SMTP_USER": "",
        "SMTP_TIMEOUT_SECONDS": 5,
        "NOTIFY_BACKOFF_SECONDS": 0.01,
        "NOTIFY_BACKOFF_MAX_SECONDS": 0.02,
    }
    app.config.update({**settings, **extra})


def parts(message):
    """(text, html) bodies of a received multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def drain(app, name="test", **options):
    return worker.drain(app, name=name, **options)


def assert_schema(body, name):
    """The body matches the response schema the OpenAPI document gives it."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": openapi.RESPONSE_SCHEMAS}}
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, [error.message for error in errors]


def flask_bin():
    path = ROOT / ".venv" / "bin" / "flask"
    return [str(path)] if path.exists() else [sys.executable, "-m", "flask"]


def worker_env(**settings):
    """The environment of a worker process on the test database."""
    config = _config()
    return {
        **os.environ,
        "MYSQL_DB": TEST_DB,
        "JWT_SECRET_KEY": config["JWT_SECRET_KEY"],
        "FLASK_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
        **{key: str(value) for key, value in settings.items()},
    }


def start_worker(log_path, *args, **settings):
    """`flask --app app1 worker ARGS` as a real process; its output goes to log_path."""
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it; closed by stop_worker
    proc = subprocess.Popen(
        [*flask_bin(), "--app", "app1", "worker", *args],
        cwd=ROOT,
        env=worker_env(**settings),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log_file = log
    proc.log_path = Path(log_path)
    return proc


def stop_worker(proc, sig=None, timeout=10):
    """Stop a worker (SIGTERM unless another signal is given) and return its exit code."""
    try:
        if proc.poll() is None:
            proc.send_signal(sig) if sig else proc.terminate()
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.log_file.close()


def wait_for(predicate, timeout=20, interval=0.02, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")
