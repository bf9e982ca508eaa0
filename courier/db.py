"""MySQL access: a connection pool per app, one connection per request on `g`, and the init-db command.

Transactions, one rule: a service function that changes several rows together opens `with transaction():`
itself; handlers never do. transaction() is re-entrant: inside another one it joins it (nothing commits until
the outermost block ends; an error anywhere rolls everything back), so services compose. Outside a
transaction every statement commits on its own (the connections run in autocommit). A function that is only
correct inside a transaction (one that reads with SELECT ... FOR UPDATE, say) starts with
require_transaction(). What must be kept even when the request fails (a counted wrong delivery code) is
committed by its own transaction, and the error is raised after it (see lifecycle.courier_update).
"""

import re
import time
from contextlib import contextmanager
from pathlib import Path

import click
import pymysql
from flask import current_app, g

from . import emails
from .pool import Pool

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema.sql"
SEED = ROOT / "seed.sql"
MIGRATIONS = ROOT / "migrations"
DB_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def connect_args(config, database=True):
    """Keyword arguments for pymysql.connect() from the app config."""
    args = {
        "host": config["MYSQL_HOST"],
        "port": int(config["MYSQL_PORT"]),
        "user": config["MYSQL_USER"],
        "password": config["MYSQL_PASSWORD"],
        "charset": "utf8mb4",
        "cursorclass": pymysql.cursors.DictCursor,
        "autocommit": True,
        "connect_timeout": config["MYSQL_CONNECT_TIMEOUT"],
        "read_timeout": config["MYSQL_READ_TIMEOUT"],
        "write_timeout": config["MYSQL_READ_TIMEOUT"],
        # Times are stored and compared in UTC; a blocked row lock gives up fast.
        "init_command": "SET time_zone = '+00:00', innodb_lock_wait_timeout = 5",
    }
    if database:
        args["database"] = config["MYSQL_DB"]
    return args


def init_pool(app):
    """Create the app's pool; connections are opened lazily, so the app starts while MySQL is down.

    Waiting for a free connection is bounded (DB_WAIT_SECONDS), and nothing is ever retried by the pool:
    see courier/pool.py.
    """
    app.extensions["db_pool"] = Pool(
        connect_args(app.config), app.config["DB_POOL_SIZE"], app.config["DB_WAIT_SECONDS"]
    )


def get_db():
    """The request's connection, taken from the pool on first use.

    Until the database first answers, the request's wait for a connection, the connect and the first
    statement share one budget of DB_WAIT_SECONDS, so a stalled database costs at most that.
    """
    if "db" not in g:
        # A request that could not get a connection does not wait a second time (e.g. the login limiter
        # looked the account up first): it fails with the same error at once.
        if "db_error" in g:
            raise g.db_error
        deadline = time.monotonic() + current_app.config["DB_WAIT_SECONDS"]
        try:
            g.db = current_app.extensions["db_pool"].connection(deadline)
        except pymysql.err.Error as err:
            g.db_error = err
            raise
    return g.db


def close_db(exc=None):
    """Give the request's connection back to the pool."""
    db = g.pop("db", None)
    if db is not None:
        try:
            db.close()
        except pymysql.err.Error:
            pass


def _answered(db):
    """The database answered this request: its later statements get the normal read timeout (courier.pool).
    A connection from another pool (courier.replica's) has nothing to settle."""
    settle = getattr(db, "settle", None)
    if settle is not None:
        settle()


def query(sql, args=(), one=False):
    """Run a SELECT and return its rows (or the first row, or None, with one=True)."""
    db = get_db()
    with db.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
    _answered(db)
    if one:
        return rows[0] if rows else None
    return list(rows)


def execute(sql, args=()):
    """Run a write and return the cursor's (lastrowid, rowcount)."""
    db = get_db()
    with db.cursor() as cur:
        cur.execute(sql, args)
        _answered(db)
        return cur.lastrowid, cur.rowcount


@contextmanager
def transaction():
    """Everything inside commits together or not at all; inside another transaction, it joins that one."""
    db = get_db()
    depth = g.get("transaction_depth", 0)
    if depth:
        g.transaction_depth = depth + 1
        try:
            yield db
        finally:
            g.transaction_depth = depth
        return
    # Inside a transaction a connection that died cannot be replaced: touch it first, outside the
    # transaction, so a dead one fails here, before any write (a round trip per write transaction only).
    with db.cursor() as cur:
        cur.execute("SELECT 1")
    db.begin()
    g.transaction_depth = 1
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.commit()
    finally:
        g.transaction_depth = 0


def in_transaction():
    return g.get("transaction_depth", 0) > 0


def require_transaction():
    """Fail loudly when called outside a transaction (e.g. a row lock that would be released at once)."""
    if not in_transaction():
        raise RuntimeError("this must run inside db.transaction()")


def split_sql(text):
    """Split a SQL file into statements (no procedures, so ';' at a line end ends one)."""
    statements, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current))
    return statements


def run_sql_file(conn, path):
    with conn.cursor() as cur:
        for statement in split_sql(Path(path).read_text()):
            cur.execute(statement)


def migration_files():
    """Forward migrations, in the order of their numeric prefix."""
    return sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def apply_schema(conn):
    """Bring a database to the current schema without dropping anything.

    A database that already records migrations gets the pending ones first; then
    schema.sql (all CREATE ... IF NOT EXISTS) adds whatever tables are missing. Returns the accounts whose
    emails collide once normalised (courier.emails.normalise_stored), left as they are.
    """
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES LIKE 'schema_migrations'")
        tracked = cur.fetchone() is not None
        applied = set()
        if tracked:
            cur.execute("SELECT version FROM schema_migrations")
            applied = {row["version"] for row in cur.fetchall()}
    if tracked:
        for path in migration_files():
            version = int(path.name[:4])
            if version not in applied:
                run_sql_file(conn, path)
                with conn.cursor() as cur:
                    cur.execute("INSERT IGNORE INTO schema_migrations (version) VALUES (%s)", (version,))
    run_sql_file(conn, SCHEMA)
    # Emails to their one normal form (NFKC, case-folded); accounts that would collide are reported, not merged.
    return emails.normalise_stored(conn)


def is_empty(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT COUNT(*) FROM admins) + (SELECT COUNT(*) FROM customers)"
            " + (SELECT COUNT(*) FROM delivery_persons) AS n"
        )
        return cur.fetchone()["n"] == 0


def create_database(config):
    """Create the configured database if it is missing, and return a connection to it."""
    name = config["MYSQL_DB"]
    if not DB_NAME.match(name):
        raise click.ClickException(f"MYSQL_DB must be letters, digits or '_', not {name!r}")
    # Migrations may rewrite big tables: no 4-second read timeout here (requests keep theirs).
    args = {**connect_args(config, database=False), "read_timeout": None, "write_timeout": None}
    conn = pymysql.connect(**args)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    conn.select_db(name)
    return conn


def unreachable_message(config, err):
    code = err.args[0] if err.args else None
    if code in (1044, 1045):
        return (
            f"MySQL at {config['MYSQL_HOST']}:{config['MYSQL_PORT']} refused access for "
            f"{config['MYSQL_USER']!r} (access denied): {err}\n"
            "Check MYSQL_USER and MYSQL_PASSWORD (.env) and the account's grants."
        )
    return (
        f"Cannot reach MySQL at {config['MYSQL_HOST']}:{config['MYSQL_PORT']} "
        f"as {config['MYSQL_USER']!r}: {err}\n"
        "Start it, then try again. On Debian/Ubuntu: `sudo service mariadb start` "
        "(or `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`);\n"
        "with Docker: `docker run -d -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 mariadb:11`.\n"
        "Connection settings come from MYSQL_HOST, MYSQL_PORT, MYSQL_USER and MYSQL_PASSWORD (.env)."
    )


def init_db(config, seed=True, collisions=None):
    """Create the database if needed, apply the schema, and seed it if it is empty.

    Accounts whose emails collide once normalised are appended to `collisions` (a list) when given.
    """
    conn = create_database(config)
    try:
        found = apply_schema(conn)
        if collisions is not None:
            collisions.extend(found)
        seeded = False
        if seed and is_empty(conn):
            run_sql_file(conn, SEED)
            seeded = True
    finally:
        conn.close()
    return seeded


@click.command("init-db")
@click.option("--no-seed", is_flag=True, help="Do not load the demo data, even into an empty database.")
def init_db_command(no_seed):
    """Create the database if missing, apply schema.sql and load seed.sql into an empty database."""
    config = current_app.config
    collisions = []
    try:
        seeded = init_db(config, seed=not no_seed, collisions=collisions)
    except pymysql.err.OperationalError as err:
        raise click.ClickException(unreachable_message(config, err)) from err
    for collision in collisions:
        accounts = ", ".join(f"{a['user_type']} {a['user_id']} ({a['email']})" for a in collision["accounts"])
        click.echo(
            f"Warning: these accounts have the same email once normalised ({collision['email']}) and were "
            f"left as they are, not merged: {accounts}. Change or close all but one of them.",
            err=True,
        )
    click.echo(f"Database {config['MYSQL_DB']} is ready" + (" (demo data loaded)." if seeded else "."))


def init_app(app):
    init_pool(app)
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
