"""`make fuzz`: run schemathesis against the live /openapi.json, once per role, on a throwaway database.

It creates `courier_fuzz_<random>`, loads a few accounts and orders, serves the app on a free loopback port,
logs in as admin, customer and delivery person, runs `st run` for each role's operations (public ones in the
admin run), and drops the database. It fails when schemathesis reports any server error or any response that
breaks the document. FUZZ_MAX_EXAMPLES (default 30) bounds the examples per operation.
"""

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pymysql
from werkzeug.serving import make_server

from app1 import create_app
from courier import db
from courier.auth import hash_password
from courier.config import from_env

PASSWORD = "fuzz-password-1"
CONFIG = Path(__file__).with_name("schemathesis.toml")
CHECKS = "all"
# Streams stay open (they would only time out); /logout would end the very session the run is using.
# The CSV imports (a text/csv or multipart body) make schemathesis 4.32 itself fail in its coverage phase
# ("AST constructor recursion depth mismatch" in hypothesis' lambda descriptions, with --workers 2), whatever
# the server answers; tests/test_import.py covers them (bad files, headers, sizes, roles).
EXCLUDE_PATHS = r"(/events$|^/logout$|/orders/import$)"
DELETE_USER = "^/admin/delete-user/"
# Each run: the role, the tags of the operations it covers (admins also cover every public route), and the
# paths it leaves out. Deleting users runs last, on its own: it may close the accounts the other runs use.
RUNS = [
    ("customer", "Customer|Customers and delivery persons", EXCLUDE_PATHS),
    ("delivery_person", "Delivery person|Customers and delivery persons", EXCLUDE_PATHS),
    (
        "admin",
        "Admin|Notifications and webhooks|Authentication and accounts|Documentation|Health|Tracking|Web console",
        f"{EXCLUDE_PATHS}|{DELETE_USER}",
    ),
    ("admin", "Admin", f"^(?!{DELETE_USER[1:]})"),
]
# The last run has no links among its operations: no stateful phase there.
PHASES = ["examples,coverage,fuzzing,stateful"] * 3 + ["examples,coverage,fuzzing"]


def config():
    cfg = from_env()
    cfg.update(
        TESTING=True,
        MYSQL_DB=f"courier_fuzz_{secrets.token_hex(5)}",
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(hours=2),
        BCRYPT_LOG_ROUNDS=4,
        RATELIMIT_ENABLED=False,
        POD_STORAGE_DIR=tempfile.mkdtemp(
            prefix="courier-fuzz-pod-"
        ),  # proof files of the run, not in the repo
    )
    return cfg


def seed(app):
    """One account per role and a few orders in different statuses, so ids 1..6 exist."""
    with app.app_context():
        password = hash_password(PASSWORD)
    conn = pymysql.connect(**db.connect_args(app.config))
    with conn.cursor() as cur:
        cur.execute("INSERT INTO admins (username, password) VALUES ('fuzzadmin', %s)", (password,))
        cur.execute(
            "INSERT INTO customers (name, email, password, address) VALUES"
            " ('Fuzz Customer', 'customer@fuzz.test', %s, '1 Fuzz Road')",
            (password,),
        )
        cur.execute(
            "INSERT INTO delivery_persons (name, email, password) VALUES ('Fuzz Courier', 'courier@fuzz.test', %s)",
            (password,),
        )
        cur.execute(
            "INSERT INTO account_emails (email, user_type, user_id) VALUES"
            " ('customer@fuzz.test', 'customer', 1), ('courier@fuzz.test', 'delivery_person', 1)"
        )
        for i, status in enumerate(
            ["Pending", "Assigned", "Picked Up", "Out for Delivery", "Delivered", "Pending"]
        ):
            cur.execute(
                "INSERT INTO orders (tracking_number, customer_id, assigned_to, status, pickup_address,"
                " delivery_address, recipient_name, closed_at)"
                " VALUES (%s, 1, %s, %s, '1 Fuzz Road', '2 Far Road', 'Rita', %s)",
                (
                    f"CTFUZZ{i:012d}",
                    None if status == "Pending" else 1,
                    status,
                    time.strftime("%Y-%m-%d %H:%M:%S") if status == "Delivered" else None,
                ),
            )
        cur.execute(
            "INSERT INTO issues (user_type, user_id, order_id, message) VALUES ('customer', 1, 1, 'Fuzz issue')"
        )
    conn.close()


def drop(cfg):
    conn = pymysql.connect(**db.connect_args(cfg, database=False))
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{cfg['MYSQL_DB']}`")
    conn.close()


def tokens(app):
    client = app.test_client()
    logins = {
        "admin": {"username": "fuzzadmin"},
        "customer": {"email": "customer@fuzz.test"},
        "delivery_person": {"email": "courier@fuzz.test"},
    }
    found = {}
    for role, who in logins.items():
        response = client.post("/login", json={**who, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        found[role] = response.get_json()["token"]
    return found


def schemathesis(base, token, tags, exclude, max_examples, phases):
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
        "--url", base,
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--include-tag-regex", f"^({tags})$",
        "--exclude-path-regex", exclude,
        "--phases", phases,
        "--mode", "all",  # positive and negative data
        "--max-examples", str(max_examples),
        "--request-timeout", "10",
        "--seed", os.environ.get("FUZZ_SEED", "4242"),
        "--generation-database", "none",  # reproducible from the seed alone
        "--workers", "1",  # 2 hit a CPython 3.11 race in hypothesis (AST constructor recursion depth)
        "--no-color",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:  # schemathesis keeps a cache in its working directory
        return subprocess.run(command, check=False, cwd=workdir).returncode


def main():
    cfg = config()
    max_examples = int(os.environ.get("FUZZ_MAX_EXAMPLES", "30"))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("courier.access").setLevel(logging.WARNING)
    db.init_db(cfg, seed=False)
    try:
        app = create_app(cfg)
        seed(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        print(f"fuzz: serving {cfg['MYSQL_DB']} at {base}", flush=True)
        role_tokens = tokens(app)
        failed = []
        for (role, tags, exclude), phases in zip(RUNS, PHASES, strict=True):
            print(f"\n===== schemathesis as {role} ({tags}; not {exclude}) =====", flush=True)
            if schemathesis(base, role_tokens[role], tags, exclude, max_examples, phases) != 0:
                failed.append(role)
        server.shutdown()
    finally:
        drop(cfg)
        shutil.rmtree(cfg["POD_STORAGE_DIR"], ignore_errors=True)
    if failed:
        print(f"fuzz: schemathesis found failures in the {', '.join(failed)} run(s)")
    else:
        print("fuzz: no server errors and no responses that break the document")
    print(f"fuzz: {len(RUNS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
