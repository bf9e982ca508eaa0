"""Fixtures: a throwaway MariaDB/MySQL database for the session, emptied before every test.

The suite never touches courier1, never mocks the database, and stops loudly if MySQL is down.

Speed: the fixtures' own SQL goes through one connection for the whole run (shared_connection), every app the
`app` fixture makes borrows one connection pool for the whole run (shared_pool), and emptying the database
deletes the rows of the tables that have any, instead of truncating all of them.
"""

import itertools
import os
import uuid
from dataclasses import dataclass

import bcrypt
import pymysql
import pytest
import redis

from app1 import create_app
from courier import db as dbmod
from courier import livehub, proof
from courier.config import from_env

# Under pytest-xdist (make test runs two workers) each worker has a database of its own.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
TEST_DB = (os.environ.get("TEST_MYSQL_DB") or f"courier_test_{uuid.uuid4().hex[:10]}") + (
    f"_{WORKER}" if WORKER else ""
)
TABLES_QUERY = (
    "SELECT table_name AS name FROM information_schema.tables"
    " WHERE table_schema = %s AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'"
)
# The database refuses to delete events (a trigger): that table is truncated instead.
TRUNCATED = {"order_events"}
PASSWORD = "password123"
_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
_counter = itertools.count(1)


def _config():
    config = from_env()
    config.update(
        TESTING=True,
        MYSQL_DB=TEST_DB,
        BCRYPT_LOG_ROUNDS=4,
        JWT_SECRET_KEY="test-only-secret-" + "k" * 40,
        DB_POOL_SIZE=20,
    )
    return config


def _hands_out_tests_only(session):
    """The pytest-xdist controller: its workers run the tests, each on its own database."""
    return WORKER is None and getattr(session.config.option, "numprocesses", None) not in (None, 0)


def pytest_sessionstart(session):
    """Create the test database, or stop the whole run with a message saying how to start MySQL."""
    if _hands_out_tests_only(session):
        return
    config = _config()
    assert config["MYSQL_DB"] != "courier1", "tests must never touch the demo database"
    try:
        dbmod.init_db(config, seed=False)
    except pymysql.err.OperationalError as err:
        pytest.exit(
            "MySQL is unreachable, so the tests cannot run.\n" + dbmod.unreachable_message(config, err), 3
        )


def pytest_sessionfinish(session, exitstatus):
    global _shared, _pool
    livehub.stop_all()  # before the database goes: the live readers would log its absence
    for held in (_shared, _pool):
        if held is not None:
            held.close()
    _shared = _pool = None
    if _hands_out_tests_only(session):
        return
    config = _config()
    try:
        conn = pymysql.connect(**dbmod.connect_args(config, database=False))
    except pymysql.err.OperationalError:
        return
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{TEST_DB}`")
    conn.close()


def connect():
    return pymysql.connect(**dbmod.connect_args(_config()))


_shared = None  # the fixtures' connection
_pool = None  # the pool every `app` fixture's app uses
_tables = None


def shared_connection():
    """The one connection (autocommit) the fixtures run their own SQL on; reopened if a test killed it."""
    global _shared
    if _shared is not None:
        try:
            _shared.ping()
        except pymysql.err.Error:
            _shared = None
    if _shared is None:
        _shared = connect()
    return _shared


def empty_database():
    """Delete every row of every table that has any (one query finds them)."""
    global _tables
    with shared_connection().cursor() as cur:
        if _tables is None:
            cur.execute(TABLES_QUERY, (TEST_DB,))
            _tables = sorted(row["name"] for row in cur.fetchall())
        cur.execute(" UNION ALL ".join(f"(SELECT '{t}' AS name FROM `{t}` LIMIT 1)" for t in _tables))
        used = [row["name"] for row in cur.fetchall()]
        if not used:
            return
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in used:
            if table in TRUNCATED:
                # Keep ids growing, as in production (TRUNCATE would restart them at 1): a long-lived test
                # server's live reader remembers the newest event id it has seen.
                cur.execute(f"SELECT COALESCE(MAX(event_id), 0) + 1 AS next FROM `{table}`")
                next_id = cur.fetchone()["next"]
                cur.execute(f"TRUNCATE TABLE `{table}`")
                cur.execute(f"ALTER TABLE `{table}` AUTO_INCREMENT = {int(next_id)}")
            else:
                cur.execute(f"DELETE FROM `{table}`")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")


@pytest.fixture
def sql():
    """Run SQL against the test database directly, to assert on stored rows."""

    def run(statement, args=(), one=False):
        with shared_connection().cursor() as cur:
            cur.execute(statement, args)
            rows = cur.fetchall()
        return (rows[0] if rows else None) if one else list(rows)

    return run


@pytest.fixture
def app():
    """A fresh app on an emptied test database (its pool is the run's shared one)."""
    global _pool
    empty_database()
    app = create_app(_config())
    own = app.extensions["db_pool"]
    if _pool is None:
        _pool = own
    else:
        own.close()
        app.extensions["db_pool"] = _pool
    yield app
    if app.extensions["db_pool"] is _pool and _pool.in_use:
        # A connection is still out (e.g. a stream left open): the next test gets a fresh pool.
        _pool.close()
        _pool = None


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class User:
    """A test account with a live token."""

    role: str
    id: int
    login: str
    token: str
    refresh_token: str
    name: str | None = None

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}


class AuthActions:
    """Create accounts and log them in."""

    def __init__(self, client):
        self.client = client

    def login(self, password=PASSWORD, **who):
        return self.client.post("/login", json={**who, "password": password})

    def _insert(self, statement, args):
        with shared_connection().cursor() as cur:
            cur.execute(statement, args)
            return cur.lastrowid

    def _login_user(self, role, user_id, login, name):
        key = "username" if role == "admin" else "email"
        response = self.login(**{key: login})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return User(role, user_id, login, body["token"], body["refresh_token"], name)

    def admin(self, username=None):
        username = username or f"admin{next(_counter)}"
        admin_id = self._insert("INSERT INTO admins (username, password) VALUES (%s, %s)", (username, _HASH))
        return self._login_user("admin", admin_id, username, username)

    def _with_email(self, role, table, columns, values):
        n = next(_counter)
        email = f"{role}{n}@example.test"
        name = f"{role.replace('_', ' ').title()} {n}"
        user_id = self._insert(
            f"INSERT INTO {table} (name, email, password{columns}) VALUES (%s, %s, %s{', %s' * len(values)})",
            (name, email, _HASH, *values),
        )
        self._insert(
            "INSERT INTO account_emails (email, user_type, user_id) VALUES (%s, %s, %s)",
            (email, role, user_id),
        )
        return self._login_user(role, user_id, email, name)

    def customer(self):
        return self._with_email("customer", "customers", ", address", (f"{next(_counter)} Test Street",))

    def courier(self):
        return self._with_email("delivery_person", "delivery_persons", "", ())


@pytest.fixture
def auth(client):
    return AuthActions(client)


class OrderActions:
    """Move orders through their lifecycle via the API, asserting each step succeeds."""

    def __init__(self, client):
        self.client = client

    def place(self, customer, **body):
        body = {"delivery_address": "1 Delivery Road", "recipient_name": "Rita Recipient", **body}
        response = self.client.post("/customer/place-order", json=body, headers=customer.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["order"]

    def assign(self, admin, order_id, courier, **extra):
        response = self.client.post(
            "/admin/assign-delivery",
            json={"order_id": order_id, "delivery_person_id": courier.id, **extra},
            headers=admin.headers,
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["order"]

    def move(self, courier, order_id, *statuses, **extra):
        for status in statuses:
            body = {"order_id": order_id, "status": status, **extra}
            if status == "Failed Attempt":
                body.setdefault("reason", "recipient_unavailable")
            if status == "Delivered":
                body.setdefault("code", self.code(order_id))
            response = self.client.patch("/delivery/update-status", json=body, headers=courier.headers)
            assert response.status_code == 200, response.get_json()
        return response.get_json()["order"]

    def code(self, order_id):
        """The order's proof-of-delivery code, as the customer's QR code shows it."""
        return delivery_code(self.client.application, order_id)

    def delivered(self, customer, admin, courier):
        """A new order carried all the way to Delivered."""
        order = self.place(customer)
        self.assign(admin, order["order_id"], courier)
        return self.move(courier, order["order_id"], "Picked Up", "Out for Delivery", "Delivered")


def delivery_code(app, order_id):
    """An order's proof-of-delivery code (what its QR code encodes), for tests that set Delivered."""
    with shared_connection().cursor() as cur:
        cur.execute("SELECT tracking_number FROM orders WHERE order_id = %s", (order_id,))
        row = cur.fetchone()
    return row and proof.delivery_code(row["tracking_number"], app.config)


@pytest.fixture
def orders(client):
    return OrderActions(client)


@pytest.fixture
def world(auth):
    """An admin, two customers and two couriers, all logged in."""

    @dataclass
    class World:
        admin: User
        alice: User
        bob: User
        dave: User
        erin: User

    return World(auth.admin(), auth.customer(), auth.customer(), auth.courier(), auth.courier())


# Redis database 15 is the tests' own: limit counters shared across processes live under a per-test prefix.
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def prefix():
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    value = f"test-{uuid.uuid4().hex}"
    yield value
    conn = redis.Redis.from_url(REDIS_URL)
    keys = list(conn.scan_iter(f"*{value}*"))
    if keys:
        conn.delete(*keys)
    conn.close()
