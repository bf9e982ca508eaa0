"""Accounts under attack: one login limit per account whatever the spelling of its email, normalised emails
(and stored ones migrated, collisions reported), a sign-up limit per address with bounded bcrypt work, a
limiter that stays on Redis whatever a request holds, rehashing at the current cost, exact idempotency keys."""

import collections
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

import bcrypt
import redis
from conftest import PASSWORD, REDIS_URL, TEST_DB, _config, connect
from helpers import assert_error, count
from test_db_outage import Proxy

from app1 import create_app
from courier import limits as limitsmod

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEEP = "[" * 100_000


def hash_cost(password_hash):
    """The cost of a bcrypt hash ("$2b$12$..." -> 12)."""
    return int(password_hash.split("$")[2])


def _insert_customer(email, password_hash, name="Legacy"):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO customers (name, email, password, address) VALUES (%s, %s, %s, '1 Road')",
            (name, email, password_hash),
        )
        customer_id = cur.lastrowid
        cur.execute(
            "INSERT INTO account_emails (email, user_type, user_id) VALUES (%s, 'customer', %s)",
            (email, customer_id),
        )
    conn.close()
    return customer_id


# --------------------------------------------------------------------------------------------
# One account, one login limit, whatever the spelling
# --------------------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_every_spelling_of_the_email(client, auth):
    customer = auth.customer()  # customerN@example.test
    local, domain = customer.login.split("@")
    for _ in range(5):
        assert auth.login(email=customer.login, password="wrong-password").status_code == 401
    spellings = [
        customer.login.upper(),
        "\uff43" + customer.login[1:],  # fullwidth c
        "\u0107" + customer.login[1:],  # c with acute: the database compares accent-blind
        f" {local.title()}@{domain.upper()} ",
    ]
    for spelling in spellings:
        response = auth.login(email=spelling)
        assert response.status_code == 429, (spelling, response.get_json())
        assert response.headers.get("Retry-After")
    invisible = auth.login(email=customer.login + "\u200b")
    body = assert_error(invisible, 400, "invalid_fields")
    assert "email" in body["fields"]


def test_emails_are_normalised_at_sign_up_and_registration(client, world, sql):
    response = client.post(
        "/signup",
        json={"name": "Bo", "email": "\uff22O.Smith@Example.COM", "password": PASSWORD, "address": "1 Road"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["user"]["email"] == "bo.smith@example.com"
    assert (
        sql(
            "SELECT email FROM account_emails WHERE user_id = %s AND user_type = 'customer'",
            (response.get_json()["customer_id"],),
            one=True,
        )["email"]
        == "bo.smith@example.com"
    )
    assert (
        client.post("/login", json={"email": "BO.SMITH@example.com", "password": PASSWORD}).status_code == 200
    )
    again = client.post(
        "/signup",
        json={"name": "Bo", "email": "bo.smith@EXAMPLE.com", "password": PASSWORD, "address": "1 Road"},
    )
    assert_error(again, 409, "email_taken")
    for email in ("zw\u200b@example.com", "ctl\u0007@example.com", "bom\ufeff@example.com"):
        bad = client.post(
            "/signup", json={"name": "Z", "email": email, "password": PASSWORD, "address": "1 Road"}
        )
        assert "email" in assert_error(bad, 400, "invalid_fields")["fields"]
        courier = client.post(
            "/register",
            json={"user_type": "delivery_person", "name": "Z", "email": email, "password": PASSWORD},
            headers=world.admin.headers,
        )
        assert "email" in assert_error(courier, 400, "invalid_fields")["fields"]
    assert count(sql, "customers", "email LIKE %s", ("zw%",)) == 0
    assert count(sql, "delivery_persons", "email LIKE %s", ("zw%",)) == 0


def test_init_db_normalises_stored_emails_and_reports_collisions_without_merging(app, client, sql, caplog):
    legacy = _insert_customer(
        "\uff24AN@Example.test", bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    )
    first = _insert_customer("bob@example.test", "x")
    # U+1F131 SQUARED LATIN CAPITAL LETTER B: NFKC makes it "B"; MariaDB's collation does not.
    second = _insert_customer("\U0001f131ob@example.test", "y")
    with caplog.at_level(logging.WARNING, logger="courier.emails"), app.app_context():
        result = app.test_cli_runner().invoke(args=["init-db", "--no-seed"])
    assert result.exit_code == 0, result.output
    output = result.output + (getattr(result, "stderr", "") or "")
    assert "not merged" in output and "bob@example.test" in output
    assert f"customer {first}" in output and f"customer {second}" in output
    assert any("not merged" in record.getMessage() for record in caplog.records)
    rows = {row["user_id"]: row["email"] for row in sql("SELECT user_id, email FROM account_emails")}
    assert rows[legacy] == "dan@example.test"
    assert rows[first] == "bob@example.test" and rows[second] == "\U0001f131ob@example.test"
    assert (
        sql("SELECT email FROM customers WHERE customer_id = %s", (legacy,), one=True)["email"]
        == "dan@example.test"
    )
    assert client.post("/login", json={"email": "dan@example.test", "password": PASSWORD}).status_code == 200
    # Running it again changes nothing and reports the collision again.
    with app.app_context():
        again = app.test_cli_runner().invoke(args=["init-db", "--no-seed"])
    assert "not merged" in again.output + (getattr(again, "stderr", "") or "")


# --------------------------------------------------------------------------------------------
# Sign-up cannot be used to burn CPU
# --------------------------------------------------------------------------------------------


def _signup(client, address, n):
    return client.post(
        "/signup",
        json={
            "name": "S",
            "email": f"s{n}-{uuid.uuid4().hex[:6]}@example.com",
            "password": PASSWORD,
            "address": "1 Road",
        },
        environ_base={"REMOTE_ADDR": address},
    )


def test_sign_ups_are_limited_per_client_address(sql):
    app = create_app({**_config(), "SIGNUP_RATE_LIMIT": "3 per hour"})
    try:
        client = app.test_client()
        assert [_signup(client, "10.0.0.1", n).status_code for n in range(3)] == [201] * 3
        before = count(sql, "customers")
        blocked = _signup(client, "10.0.0.1", 4)
        assert_error(blocked, 429, "rate_limited")
        assert int(blocked.headers["Retry-After"]) > 0
        assert count(sql, "customers") == before
        assert _signup(client, "10.0.0.2", 5).status_code == 201
    finally:
        app.extensions["db_pool"].close()


def test_a_sign_up_flood_keeps_real_logins_within_3x_their_quiet_time(monkeypatch):
    """Many addresses signing up at once (each under its own limit): their bcrypt work takes turns (never two
    at once), so a real user's login stays within 3x its quiet time (measured before and after the flood)."""
    from courier import accounts

    hashing, most = [0], [0]
    lock = threading.Lock()
    real_hash = accounts.hash_password

    def counted_hash(password, *args):
        with lock:
            hashing[0] += 1
            most[0] = max(most[0], hashing[0])
        try:
            return real_hash(password, *args)
        finally:
            with lock:
                hashing[0] -= 1

    app = create_app({**_config(), "BCRYPT_LOG_ROUNDS": 11, "SIGNUP_RATE_LIMIT": "1000 per hour"})
    try:
        client = app.test_client()
        email = f"real-{uuid.uuid4().hex[:6]}@example.com"
        signup = client.post(
            "/signup", json={"name": "R", "email": email, "password": PASSWORD, "address": "1 Road"}
        )
        assert signup.status_code == 201
        monkeypatch.setattr(accounts, "hash_password", counted_hash)

        def login_seconds():
            started = time.monotonic()
            assert client.post("/login", json={"email": email, "password": PASSWORD}).status_code == 200
            return time.monotonic() - started

        quiet = [login_seconds() for _ in range(5)]
        stop = threading.Event()
        signups = collections.Counter()

        def flood(i):
            flood_client = app.test_client()
            n = 0
            while not stop.is_set():
                signups[_signup(flood_client, f"10.9.{i}.1", n).status_code] += 1
                n += 1

        threads = [threading.Thread(target=flood, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        try:
            loaded = statistics.median(login_seconds() for _ in range(7))
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        quiet = statistics.median(quiet + [login_seconds() for _ in range(5)])
        print(
            f"\n[signup flood] login quiet {quiet * 1000:.0f} ms, during 12 sign-up floods {loaded * 1000:.0f} ms"
            f" ({loaded / quiet:.1f}x); sign-ups {dict(signups)}; most hashing at once {most[0]}"
        )
        assert signups[201] > 0
        assert most[0] == 1
        assert loaded < 3 * quiet, (quiet, loaded)
    finally:
        app.extensions["db_pool"].close()


# --------------------------------------------------------------------------------------------
# One bad request must not switch the limiter off; Redis down: fall back, log once, come back
# --------------------------------------------------------------------------------------------

CHILD = """
import json, os
from app1 import create_app
from courier.config import from_env
config = from_env()
config.update(json.loads(os.environ["CHILD_CONFIG"]))
client = create_app(config).test_client()
codes = []
for raw in json.loads(os.environ["BODIES"]):
    codes.append(client.post("/login", data=raw, content_type="application/json").status_code)
print(json.dumps(codes))
"""


def in_another_process(config, bodies):
    env = {**os.environ, "CHILD_CONFIG": json.dumps(config), "BODIES": json.dumps(bodies), "PYTHONPATH": ROOT}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_a_malformed_login_does_not_switch_the_shared_limiter_off(auth, prefix):
    customer = auth.customer()
    config = {
        "TESTING": True,
        "MYSQL_DB": TEST_DB,
        "BCRYPT_LOG_ROUNDS": 4,
        "JWT_SECRET_KEY": _config()["JWT_SECRET_KEY"],
        "REDIS_URL": REDIS_URL,
        "LOGIN_LIMIT_KEY_PREFIX": prefix,
        "LOGIN_LIMIT_PER_ACCOUNT": "5 per 15 minutes",
    }
    wrong = json.dumps({"email": customer.login, "password": "wrong-password"})
    right = json.dumps({"email": customer.login, "password": PASSWORD})
    surrogate = '{"email": "\\ud800@example.com", "password": "wrong-password"}'
    codes, stderr = in_another_process(config, [DEEP, surrogate, *[wrong] * 5, right])
    assert codes == [400, 400, 401, 401, 401, 401, 401, 429], stderr
    assert "falling back to in-memory" not in stderr and "unreachable" not in stderr
    # Another process (another gunicorn worker) sees the same counters: still locked.
    codes, _ = in_another_process(config, [right])
    assert codes == [429]


def test_redis_down_falls_back_logs_once_and_returns_when_redis_answers(auth, prefix, caplog, monkeypatch):
    monkeypatch.setattr(limitsmod, "REDIS_RETRY_SECONDS", 0)  # probe Redis on every request (no waiting)
    customer = auth.customer()
    proxy = Proxy(target=("127.0.0.1", 6379))
    proxy.up()
    app = create_app(
        {
            **_config(),
            "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/15",
            "LOGIN_LIMIT_KEY_PREFIX": prefix,
            "LOGIN_LIMIT_PER_ACCOUNT": "4 per 15 minutes",
        }
    )
    store = redis.Redis.from_url(REDIS_URL)
    try:
        client = app.test_client()
        wrong = {"email": customer.login, "password": "wrong-password"}

        def counted_in_redis():
            keys = [k for k in store.scan_iter(f"*{prefix}:login-account*")]
            return sum(int(store.get(k) or 0) for k in keys)

        assert client.post("/login", json=wrong).status_code == 401
        assert counted_in_redis() == 1
        proxy.down()
        with caplog.at_level(logging.WARNING, logger="courier.limits"):
            down = [client.post("/login", json=wrong).status_code for _ in range(5)]
        assert down == [401, 401, 401, 401, 429]  # counted in memory meanwhile: still limited
        unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(unreachable) == 1
        assert counted_in_redis() == 1
        caplog.clear()
        proxy.up()
        with caplog.at_level(logging.WARNING, logger="courier.limits"):
            assert client.post("/login", json=wrong).status_code == 401
        assert counted_in_redis() == 2  # back on Redis at the first request after it answers
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        store.close()
        if proxy.listener is not None:
            proxy.down()
        app.extensions["db_pool"].close()


# --------------------------------------------------------------------------------------------
# Login timing: rehash at the current cost; unknown accounts against a dummy of the current cost
# --------------------------------------------------------------------------------------------


def test_login_rehashes_an_old_cost_and_unknown_accounts_take_as_long(sql):
    old_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(11)).decode()
    email = f"old-{uuid.uuid4().hex[:6]}@example.com"
    customer_id = _insert_customer(email, old_hash)
    app = create_app({**_config(), "BCRYPT_LOG_ROUNDS": 8})  # bcrypt, not the database, sets the pace
    try:
        client = app.test_client()
        first = client.post("/login", json={"email": email, "password": PASSWORD})
        assert first.status_code == 200
        stored = sql("SELECT password FROM customers WHERE customer_id = %s", (customer_id,), one=True)[
            "password"
        ]
        assert hash_cost(stored) == 8 and stored != old_hash

        def seconds(body):
            started = time.monotonic()
            client.post("/login", json=body)
            return time.monotonic() - started

        known = statistics.median(seconds({"email": email, "password": PASSWORD}) for _ in range(7))
        unknown = statistics.median(
            seconds({"email": "nobody-here@example.com", "password": PASSWORD}) for _ in range(7)
        )
        print(f"\n[login timing] after rehash: known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
        assert known < 3 * unknown and unknown < 3 * known, (known, unknown)
        assert client.post("/login", json={"email": email, "password": PASSWORD}).status_code == 200
    finally:
        app.extensions["db_pool"].close()


def test_the_dummy_hash_follows_the_current_cost(monkeypatch):
    from courier import auth as authmod

    used = []
    real = authmod.check_password
    monkeypatch.setattr(authmod, "check_password", lambda h, p: used.append(h) or real(h, p))
    for rounds in (5, 6):
        app = create_app({**_config(), "BCRYPT_LOG_ROUNDS": rounds})
        try:
            response = app.test_client().post(
                "/login", json={"email": "nobody@example.com", "password": PASSWORD}
            )
            assert response.status_code == 401
            assert hash_cost(used[-1]) == rounds
        finally:
            app.extensions["db_pool"].close()


# --------------------------------------------------------------------------------------------
# Idempotency keys are exact
# --------------------------------------------------------------------------------------------


def test_idempotency_keys_differing_only_in_case_are_different_keys(client, world, sql):
    body = {"delivery_address": "1 Road", "recipient_name": "Kim"}

    def place(key):
        return client.post(
            "/customer/place-order", json=body, headers={**world.alice.headers, "Idempotency-Key": key}
        )

    first, other, replay = place("CaseKey-x"), place("casekey-x"), place("CaseKey-x")
    assert first.status_code == other.status_code == replay.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert other.get_json()["order"]["order_id"] != first.get_json()["order"]["order_id"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json()["order"]["order_id"] == first.get_json()["order"]["order_id"]
    assert count(sql, "orders", "customer_id = %s", (world.alice.id,)) == 2
    column = sql(
        "SELECT collation_name FROM information_schema.columns WHERE table_schema = %s"
        " AND table_name = 'orders' AND column_name = 'idempotency_key'",
        (TEST_DB,),
        one=True,
    )
    assert column["collation_name"] == "utf8mb4_bin"
