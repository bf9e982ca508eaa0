"""The backup and restore the README walks through: ops/backup.sh (mariadb-dump --single-transaction) of the
test database, ops/restore.sh into a new one, and the restored copy serves the same data (triggers included)."""

import os
import shutil
import subprocess
from pathlib import Path

import pymysql
import pytest
from conftest import PASSWORD, TEST_DB, _config

from app1 import create_app
from courier import db as dbmod

ROOT = Path(__file__).resolve().parent.parent
RESTORED = f"{TEST_DB}_restored"


def script_env():
    config = _config()
    return {
        **os.environ,
        "MYSQL_HOST": config["MYSQL_HOST"],
        "MYSQL_PORT": str(config["MYSQL_PORT"]),
        "MYSQL_USER": config["MYSQL_USER"],
        "MYSQL_PASSWORD": config["MYSQL_PASSWORD"],
    }


@pytest.fixture
def restored_db():
    yield RESTORED
    conn = pymysql.connect(**dbmod.connect_args(_config(), database=False))
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{RESTORED}`")
    conn.close()


def table_state(database):
    """{table: (rows, checksum)} and the triggers of a database."""
    conn = pymysql.connect(**dbmod.connect_args({**_config(), "MYSQL_DB": database}))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = %s"
            " AND table_type = 'BASE TABLE' ORDER BY table_name",
            (database,),
        )
        state = {}
        for row in cur.fetchall():
            cur.execute(f"SELECT COUNT(*) AS n FROM `{row['name']}`")
            count = cur.fetchone()["n"]
            cur.execute(f"CHECKSUM TABLE `{row['name']}`")
            state[row["name"]] = (count, cur.fetchone()["Checksum"])
        cur.execute(
            "SELECT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = %s"
            " ORDER BY trigger_name",
            (database,),
        )
        triggers = [row["name"] for row in cur.fetchall()]
    conn.close()
    return state, triggers


def test_backup_then_restore_into_a_new_database(world, orders, tmp_path, restored_db):
    for tool in ("mariadb-dump", "mariadb", "gzip"):
        assert shutil.which(tool), f"{tool} is missing: apt-get install mariadb-client"
    orders.delivered(world.alice, world.admin, world.dave)
    orders.place(world.bob)
    backup = tmp_path / "courier.sql.gz"
    with open(backup, "wb") as out:
        done = subprocess.run(
            [ROOT / "ops" / "backup.sh", TEST_DB],
            stdout=out,
            stderr=subprocess.PIPE,
            env=script_env(),
            timeout=120,
        )
    assert done.returncode == 0, done.stderr.decode()
    assert backup.stat().st_size > 1000

    with open(backup, "rb") as dump:
        done = subprocess.run(
            [ROOT / "ops" / "restore.sh", restored_db],
            stdin=dump,
            capture_output=True,
            env=script_env(),
            timeout=120,
        )
    assert done.returncode == 0, done.stderr.decode()
    original, restored = table_state(TEST_DB), table_state(restored_db)
    assert restored == original
    assert original[0]["orders"][0] == 2 and "feedback_order_facts" in original[1]

    # The restored copy serves: init-db finds nothing to migrate, and Alice logs in and sees her order.
    app = create_app({**_config(), "MYSQL_DB": restored_db})
    dbmod.init_db(app.config, seed=False)
    # init-db may record migrations the fresh schema did not list; it changes no data.
    after_init = table_state(restored_db)
    assert {k: v for k, v in after_init[0].items() if k != "schema_migrations"} == {
        k: v for k, v in original[0].items() if k != "schema_migrations"
    }
    assert after_init[1] == original[1]
    client = app.test_client()
    login = client.post("/login", json={"email": world.alice.login, "password": PASSWORD})
    assert login.status_code == 200, login.get_json()
    mine = client.get("/customer/orders", headers={"Authorization": f"Bearer {login.get_json()['token']}"})
    assert [o["status"] for o in mine.get_json()["orders"]] == ["Delivered"]
    app.extensions["db_pool"].close()


def test_restore_refuses_a_database_that_has_tables(tmp_path):
    empty = tmp_path / "empty.sql.gz"
    subprocess.run(["sh", "-c", f"echo 'SELECT 1;' | gzip > {empty}"], check=True)
    with open(empty, "rb") as dump:
        done = subprocess.run(
            [ROOT / "ops" / "restore.sh", TEST_DB],
            stdin=dump,
            capture_output=True,
            env=script_env(),
            timeout=60,
        )
    assert done.returncode == 1
    assert b"restore into a new or empty database" in done.stderr
    with open(empty, "rb") as dump:
        done = subprocess.run(
            [ROOT / "ops" / "restore.sh", "bad-name;"],
            stdin=dump,
            capture_output=True,
            env=script_env(),
            timeout=60,
        )
    assert done.returncode == 1 and b"not a database name" in done.stderr
