"""schema.sql, seed.sql, init-db and migrations, on databases of their own."""

import uuid
from pathlib import Path

import pymysql
import pytest

from courier import db as dbmod
from courier.config import from_env

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def scratch_db():
    """A config for a database of this test's own, dropped afterwards."""
    names = []

    def make():
        config = from_env()
        config["MYSQL_DB"] = f"courier_scratch_{uuid.uuid4().hex[:10]}"
        names.append(config["MYSQL_DB"])
        return config

    yield make
    conn = pymysql.connect(**dbmod.connect_args(from_env(), database=False))
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def shape(config):
    """Every table's columns with their types, nullability and defaults, and every index."""
    conn = pymysql.connect(**dbmod.connect_args(config))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, column_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = %s ORDER BY table_name, column_name",
            (config["MYSQL_DB"],),
        )
        columns = [tuple(row.values()) for row in cur.fetchall()]
        cur.execute(
            "SELECT table_name, index_name, column_name, seq_in_index, non_unique"
            " FROM information_schema.statistics WHERE table_schema = %s"
            " ORDER BY table_name, index_name, seq_in_index",
            (config["MYSQL_DB"],),
        )
        indexes = [tuple(row.values()) for row in cur.fetchall()]
    conn.close()
    return columns, indexes


def count(config, table):
    conn = pymysql.connect(**dbmod.connect_args(config))
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) AS n FROM `{table}`")
        n = cur.fetchone()["n"]
    conn.close()
    return n


def test_init_db_creates_seeds_once_and_is_rerunnable(scratch_db):
    config = scratch_db()
    assert dbmod.init_db(config) is True
    orders = count(config, "orders")
    assert orders >= 4
    # Running it again drops nothing, re-seeds nothing.
    assert dbmod.init_db(config) is False
    assert count(config, "orders") == orders


def test_seed_statuses_and_demo_logins(scratch_db):
    from app1 import create_app

    config = scratch_db()
    dbmod.init_db(config)
    app = create_app({**config, "TESTING": True, "JWT_SECRET_KEY": "t" * 40})
    client = app.test_client()
    for who, role in [
        ({"username": "admin", "password": "admin123"}, "admin"),
        ({"email": "alice@example.com", "password": "customer123"}, "customer"),
        ({"email": "dave@example.com", "password": "courier123"}, "delivery_person"),
    ]:
        response = client.post("/login", json=who)
        assert response.status_code == 200 and response.get_json()["role"] == role
    conn = pymysql.connect(**dbmod.connect_args(config))
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT status FROM orders")
        statuses = {row["status"] for row in cur.fetchall()}
    conn.close()
    assert len(statuses) >= 3


def test_old_database_migrated_forward_matches_fresh_schema(scratch_db):
    fresh, old = scratch_db(), scratch_db()
    dbmod.init_db(fresh, seed=False)
    conn = dbmod.create_database(old)
    dbmod.run_sql_file(conn, FIXTURES / "schema_v1.sql")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO admins (username, password) VALUES ('kept', 'x')")
    conn.close()
    dbmod.init_db(old, seed=False)
    assert shape(old) == shape(fresh)
    assert count(old, "admins") == 1


def test_order_events_are_append_only(scratch_db):
    config = scratch_db()
    dbmod.init_db(config)
    conn = pymysql.connect(**dbmod.connect_args(config))
    with conn.cursor() as cur:
        with pytest.raises(pymysql.err.OperationalError, match="append-only"):
            cur.execute("UPDATE order_events SET note = 'edited'")
        with pytest.raises(pymysql.err.OperationalError, match="append-only"):
            cur.execute("DELETE FROM order_events")
    conn.close()


def test_init_db_refuses_a_bad_database_name():
    import click

    config = {**from_env(), "MYSQL_DB": "x; DROP DATABASE y"}
    with pytest.raises(click.ClickException):
        dbmod.create_database(config)
