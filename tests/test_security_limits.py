"""Brute force: failed logins limited per account and per address (Flask-Limiter), shared through Redis,
and an unknown account answered exactly like a wrong password, in about the same time."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REDIS_URL, TEST_DB, _config

from app1 import create_app
from courier import auth as authmod

ROOT = Path(__file__).resolve().parent.parent
INVALID = {"error": "Invalid credentials", "code": "invalid_credentials"}

# A second process: its own app on the same configuration, making the given login attempts.
CHILD = """
import json, os
from app1 import create_app
from courier.config import from_env
config = from_env()
config.update(json.loads(os.environ["CHILD_CONFIG"]))
client = create_app(config).test_client()
print(json.dumps([client.post("/login", json=body).status_code for body in json.loads(os.environ["LOGINS"])]))
"""


def in_another_process(config, logins):
    env = {
        **os.environ,
        "CHILD_CONFIG": json.dumps(config),
        "LOGINS": json.dumps(logins),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_config(**extra):
    return {
        "TESTING": True,
        "MYSQL_DB": TEST_DB,
        "BCRYPT_LOG_ROUNDS": 4,
        "JWT_SECRET_KEY": _config()["JWT_SECRET_KEY"],
        "LOGIN_LIMIT_PER_ACCOUNT": "5 per 15 minutes",
        **extra,
    }


def test_failed_logins_per_account_get_429_with_retry_after(client, auth):
    customer = auth.customer()
    wrong = [auth.login(email=customer.login, password="wrong-password") for _ in range(5)]
    assert [r.status_code for r in wrong] == [401] * 5
    assert all(r.get_json() == INVALID for r in wrong)
    blocked = auth.login(email=customer.login, password="wrong-password")
    assert blocked.status_code == 429
    assert blocked.get_json()["code"] == "rate_limited"
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
    # The right password waits too, in any spelling of the email; other accounts are untouched.
    assert auth.login(email=customer.login).status_code == 429
    assert auth.login(email=f"  {customer.login.upper()} ").status_code == 429
    assert auth.login(email=auth.customer().login).status_code == 200


def test_successful_logins_do_not_count(client, auth):
    admin = auth.admin()
    assert all(auth.login(username=admin.login).status_code == 200 for _ in range(8))
    statuses = [auth.login(username=admin.login, password="wrong-password").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_failed_logins_per_address_are_limited_and_configurable(app, client, auth):
    app.config["LOGIN_LIMIT_PER_IP"] = "3 per 15 minutes"
    customer = auth.customer()
    statuses = [auth.login(email=f"nobody{i}@example.com").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert auth.login(email=customer.login).status_code == 429
    elsewhere = client.post(
        "/login",
        json={"email": customer.login, "password": "password123"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert elsewhere.status_code == 200


def test_limits_are_shared_across_processes_through_redis(auth, prefix):
    customer = auth.customer()
    config = child_config(REDIS_URL=REDIS_URL, LOGIN_LIMIT_KEY_PREFIX=prefix)
    here = create_app({**_config(), **config}).test_client()
    wrong = {"email": customer.login, "password": "wrong-password"}
    assert in_another_process(config, [wrong] * 3) == [401] * 3
    assert [here.post("/login", json=wrong).status_code for _ in range(3)] == [401, 401, 429]
    assert in_another_process(config, [{**wrong, "password": "password123"}]) == [429]


def test_without_redis_each_process_counts_alone(auth):
    """The control for the test above: in-memory counters are not shared (development only)."""
    customer = auth.customer()
    config = child_config(REDIS_URL="")
    here = create_app({**_config(), **config}).test_client()
    wrong = {"email": customer.login, "password": "wrong-password"}
    assert in_another_process(config, [wrong] * 3) == [401] * 3
    assert [here.post("/login", json=wrong).status_code for _ in range(3)] == [401] * 3


def test_unreachable_redis_falls_back_to_counting_in_memory(auth):
    customer = auth.customer()
    config = child_config(REDIS_URL="redis://127.0.0.1:1/0")
    wrong = {"email": customer.login, "password": "wrong-password"}
    right = {"email": customer.login, "password": "password123"}
    assert in_another_process(config, [right, *[wrong] * 6]) == [200] + [401] * 5 + [429]


@pytest.mark.parametrize("who", [{"email": "nobody@example.com"}, {"username": "nobody"}])
def test_unknown_account_and_wrong_password_both_run_bcrypt(auth, monkeypatch, who):
    customer = auth.customer()
    checks = []
    original = authmod.bcrypt.check_password_hash

    def counting(password_hash, password):
        checks.append(password_hash)
        return original(password_hash, password)

    monkeypatch.setattr(authmod.bcrypt, "check_password_hash", counting)
    unknown = auth.login(**who, password="wrong-password")
    assert len(checks) == 1 and checks[0].startswith("$2b$")
    wrong = auth.login(email=customer.login, password="wrong-password")
    assert len(checks) == 2
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json() == INVALID
    assert unknown.headers.get("Content-Length") == wrong.headers.get("Content-Length")


def test_unknown_account_and_wrong_password_take_about_the_same_time(auth):
    app = create_app({**_config(), "BCRYPT_LOG_ROUNDS": 10, "LOGIN_LIMIT_PER_ACCOUNT": "100 per minute"})
    client = app.test_client()
    signup = {"name": "T", "email": "timing@example.com", "password": "timing-password", "address": "1 T St"}
    assert client.post("/signup", json=signup).status_code == 201

    client.post("/login", json={"email": "warm-up@example.com", "password": "x"})  # builds the dummy hash
    bodies = {
        "unknown": {"email": "nobody@example.com", "password": "wrong-password"},
        "wrong": {"email": "timing@example.com", "password": "wrong-password"},
    }
    times = {name: [] for name in bodies}
    # Alternately, so a busy machine (other tests run beside this one) slows both kinds alike.
    for _ in range(7):
        for name, body in bodies.items():
            start = time.perf_counter()
            assert client.post("/login", json=body).status_code == 401
            times[name].append(time.perf_counter() - start)
    # The fastest of each kind is its own cost; slower samples only measure what else the machine was doing.
    unknown, wrong = min(times["unknown"]), min(times["wrong"])
    assert 0.5 < unknown / wrong < 2, (unknown, wrong)
