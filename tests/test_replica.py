"""Read replica: public tracking, analytics and the CSV export read from a real MariaDB replica; writes and the
caller's own data stay on the primary; a lagging, stopped or dead replica sends those reads to the primary.

The machine's MariaDB has no binary log, so the test starts a private primary (binlog on) and a private replica
(GTID replication from it): each with its own datadir, socket, --tmpdir and loopback port, and --no-defaults so
the machine's option files and server are left alone. Both are stopped and deleted at the end.
"""

import getpass
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql
import pytest
from conftest import _HASH, PASSWORD, _config
from live_servers import free_port
from smtp_sink import wait_for

from app1 import create_app
from courier import db as dbmod

DB = "courier_replica_test"
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"


class Server:
    """One private mariadbd on 127.0.0.1."""

    def __init__(self, root, name, server_id, datadir):
        self.dir = Path(root) / name
        self.dir.mkdir()
        (self.dir / "tmp").mkdir()
        self.datadir, self.server_id, self.port = datadir, server_id, free_port()
        self.proc = None

    def start(self, *extra):
        argv = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--tmpdir={self.dir / 'tmp'}",
            f"--socket={self.dir / 'mysqld.sock'}",
            f"--pid-file={self.dir / 'mysqld.pid'}",
            f"--log-error={self.dir / 'error.log'}",
            "--bind-address=127.0.0.1",
            f"--port={self.port}",
            f"--server-id={self.server_id}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--max-connections=60",
            *extra,
        ]
        if os.geteuid() == 0:
            argv.append(f"--user={getpass.getuser()}")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"mariadbd {self.dir.name} exited:\n{(self.dir / 'error.log').read_text()[-3000:]}"
                )
            try:
                self.connect().close()
                return self
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        pytest.fail(
            f"mariadbd {self.dir.name} did not start:\n{(self.dir / 'error.log').read_text()[-3000:]}"
        )

    def connect(self, database=None):
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            cursorclass=pymysql.cursors.DictCursor,
            connect_timeout=2,
        )

    def sql(self, statement, args=(), database=DB):
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: a clean shutdown
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def servers():
    """A private primary with a binary log and a replica following it with GTID; removed afterwards."""
    root = tempfile.mkdtemp(prefix="courier-replica-")
    started = []
    try:
        data = Path(root) / "primary-data"
        install = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *([f"--user={getpass.getuser()}"] if os.geteuid() == 0 else []),
            ],
            capture_output=True,
            text=True,
        )
        assert install.returncode == 0, install.stdout + install.stderr
        replica_data = Path(root) / "replica-data"
        shutil.copytree(data, replica_data, symlinks=True)  # the same empty server, before either starts
        primary = Server(root, "primary", 1, data)
        replica = Server(root, "replica", 2, replica_data)
        started += [primary, replica]
        primary.start("--log-bin=primary-bin", "--binlog-format=ROW")
        replica.start("--relay-log=replica-relay", "--skip-slave-start")
        replica.sql(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, MASTER_USER = 'root',"
            " MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
            (primary.port,),
            database=None,
        )
        replica.sql("START SLAVE", database=None)
        yield primary, replica
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def caught_up(primary, replica):
    position = primary.sql("SELECT @@gtid_binlog_pos AS p", database=None)[0]["p"]
    return replica.sql("SELECT @@gtid_slave_pos AS p", database=None)[0]["p"] == position


@pytest.fixture(scope="module")
def setup(servers):
    primary, replica = servers
    config = {
        **_config(),
        "MYSQL_PORT": primary.port,
        "MYSQL_DB": DB,
        "MYSQL_REPLICA_HOST": "127.0.0.1",
        "MYSQL_REPLICA_PORT": replica.port,
        "REPLICA_MAX_LAG_SECONDS": 5,
        "REPLICA_CHECK_SECONDS": 0,  # look at the replica before each read (no clock to wait for)
        "DB_POOL_SIZE": 5,
    }
    dbmod.init_db(config, seed=False)  # on the primary; replicated
    primary.sql("INSERT INTO admins (username, password) VALUES ('boss', %s)", (_HASH,))
    conn = primary.connect(DB)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO customers (name, email, password, address) VALUES ('Cleo', 'cleo@example.test', %s, 'x')",
            (_HASH,),
        )
        customer_id = cur.lastrowid
        cur.execute(
            "INSERT INTO account_emails (email, user_type, user_id) VALUES ('cleo@example.test', 'customer', %s)",
            (customer_id,),
        )
    conn.close()
    app = create_app(config)
    client = app.test_client()
    admin = client.post("/login", json={"username": "boss", "password": PASSWORD}).get_json()["token"]
    customer = client.post("/login", json={"email": "cleo@example.test", "password": PASSWORD}).get_json()[
        "token"
    ]
    body = {"delivery_address": "1 Replica Road", "recipient_name": "Rex", "description": "from the primary"}
    response = client.post(
        "/customer/place-order", json=body, headers={"Authorization": f"Bearer {customer}"}
    )
    assert response.status_code == 201, response.get_json()
    order = response.get_json()["order"]
    wait_for(lambda: caught_up(primary, replica), timeout=20, message="replica caught up")
    yield app, client, order, {"admin": admin, "customer": customer}, primary, replica
    app.extensions["db_pool"].close()


def diverge(primary, replica, order):
    """Make the replica's copy of the order differ (root may write on a replica), so answers show their source."""
    wait_for(lambda: caught_up(primary, replica), timeout=30, message="replica caught up")
    replica.sql(
        "UPDATE orders SET location = 'replica copy', description = 'from the replica' WHERE order_id = %s",
        (order["order_id"],),
    )


def selects(server):
    return int(server.sql("SHOW GLOBAL STATUS LIKE 'Com_select'", database=None)[0]["Value"])


def get(client, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers)


def sources(client, order, tokens):
    """What each read says about where it came from: the replica's copy of the order, or the primary's."""
    track = get(client, f"/track/{order['tracking_number']}").get_json()
    own = get(client, f"/customer/track-order/{order['order_id']}", tokens["customer"]).get_json()
    csv = get(client, "/admin/orders/export.csv", tokens["admin"]).get_data(as_text=True)
    return {
        "track": "replica" if track["last_location"] == "replica copy" else "primary",
        "own order": "replica" if "replica copy" in str(own) else "primary",
        "export": "replica" if "from the replica" in csv else "primary",
    }


def test_public_tracking_analytics_and_export_read_from_the_replica(setup):
    app, client, order, tokens, primary, replica = setup
    diverge(primary, replica, order)
    assert sources(client, order, tokens) == {"track": "replica", "own order": "primary", "export": "replica"}
    before = selects(replica), selects(primary)
    response = get(client, "/admin/analytics", tokens["admin"])
    assert response.status_code == 200 and response.get_json()["orders"]["total"] == 1
    replica_reads, primary_reads = selects(replica) - before[0], selects(primary) - before[1]
    assert replica_reads >= 5 and primary_reads <= 1  # the token check of the request stays on the primary

    # A write goes to the primary (and reaches the replica through replication only).
    body = {"delivery_address": "2 Replica Road", "recipient_name": "Rex"}
    response = client.post(
        "/customer/place-order", json=body, headers={"Authorization": f"Bearer {tokens['customer']}"}
    )
    assert response.status_code == 201
    new_id = response.get_json()["order"]["order_id"]
    assert primary.sql("SELECT order_id FROM orders WHERE order_id = %s", (new_id,))
    wait_for(lambda: caught_up(primary, replica), timeout=20, message="replica caught up")
    assert replica.sql("SELECT order_id FROM orders WHERE order_id = %s", (new_id,))


def test_lagging_replica_sends_reads_to_the_primary(setup, caplog):
    app, client, order, tokens, primary, replica = setup
    diverge(primary, replica, order)
    assert sources(client, order, tokens)["track"] == "replica"

    # Real lag: the replica applies a change stamped 60 s ago, and it waits on a row lock held on the replica,
    # so SHOW SLAVE STATUS reports it 60 s behind until the lock goes.
    holder = replica.connect(DB)
    with holder.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT order_id FROM orders WHERE order_id = %s FOR UPDATE", (order["order_id"],))
        writer = primary.connect(DB)
        with writer.cursor() as wcur:
            wcur.execute("SET TIMESTAMP = UNIX_TIMESTAMP() - 60")
            wcur.execute("UPDATE orders SET weight_kg = 2 WHERE order_id = %s", (order["order_id"],))
        writer.close()

        def lag():
            status = replica.sql("SHOW SLAVE STATUS", database=None)[0]
            return status["Seconds_Behind_Master"] or 0

        wait_for(lambda: lag() > 5, timeout=20, message="replica lag")
        with caplog.at_level(logging.INFO, logger="courier.replica"):
            assert sources(client, order, tokens) == {
                "track": "primary",
                "own order": "primary",
                "export": "primary",
            }
        assert any(
            "lags" in record.getMessage() and "reading from the primary" in record.getMessage()
            for record in caplog.records
        )
        cur.execute("ROLLBACK")
    holder.close()
    diverge(primary, replica, order)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="courier.replica"):
        assert sources(client, order, tokens)["track"] == "replica"
    assert any("in sync" in record.getMessage() for record in caplog.records)


def test_stopped_or_dead_replica_sends_reads_to_the_primary(setup, caplog):
    app, client, order, tokens, primary, replica = setup
    diverge(primary, replica, order)
    replica.sql("STOP SLAVE", database=None)
    try:
        with caplog.at_level(logging.WARNING, logger="courier.replica"):
            assert sources(client, order, tokens)["track"] == "primary"
            response = get(client, "/admin/analytics", tokens["admin"])
            assert response.status_code == 200
        assert any("is not replicating" in record.getMessage() for record in caplog.records)
    finally:
        replica.sql("START SLAVE", database=None)
    diverge(primary, replica, order)
    assert sources(client, order, tokens)["track"] == "replica"

    replica.stop()  # the replica server goes away
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="courier.replica"):
        assert sources(client, order, tokens) == {
            "track": "primary",
            "own order": "primary",
            "export": "primary",
        }
        assert get(client, "/admin/analytics", tokens["admin"]).status_code == 200
    assert any("unreachable" in record.getMessage() for record in caplog.records)
