"""EXPLAIN every query the API makes, against generated data: no hot query scans a table or sorts without an index.

The workload below calls every route family on a database filled by `gen-data`; each SQL statement the app sends
is recorded at the PyMySQL cursor (the database itself is real) and then EXPLAINed on that same database.
"""

import uuid

import pymysql
import pytest

from app1 import create_app
from courier import db as dbmod
from courier.config import from_env
from tools import gendata

# Tables that grow with the business: a full scan or an unindexed sort on them is a failure.
HOT_TABLES = {
    "orders",
    "order_events",
    "courier_positions",
    "issues",
    "feedback",
    "customers",
    "delivery_persons",
    "account_emails",
    "auth_sessions",
}


@pytest.fixture(scope="module")
def generated():
    """A database of its own with 20,000 generated orders, dropped afterwards."""
    config = {**from_env(), "MYSQL_DB": f"courier_explain_{uuid.uuid4().hex[:8]}", "BCRYPT_LOG_ROUNDS": 4}
    info = gendata.generate(config, 20_000, echo=lambda *_: None)
    conn = pymysql.connect(**dbmod.connect_args(config))
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO admins (username, password) SELECT 'explain-admin', password FROM customers LIMIT 1"
        )
    yield config, info, conn
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{config['MYSQL_DB']}`")
    conn.close()


@pytest.fixture(scope="module")
def recorded(generated):
    """Run the workload and return every distinct statement the app sent."""
    config, info, conn = generated
    statements = []
    original = pymysql.cursors.Cursor.execute

    def recording(self, query, args=None):
        statements.append(self.mogrify(query, args))
        return original(self, query, args)

    pymysql.cursors.Cursor.execute = recording
    try:
        run_workload(config, info, conn)
    finally:
        pymysql.cursors.Cursor.execute = original
    return list(dict.fromkeys(statements))


def _login(client, **who):
    response = client.post("/login", json={**who, "password": gendata.PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def run_workload(config, info, conn):
    app = create_app({**config, "TESTING": True, "JWT_SECRET_KEY": "e" * 40, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT o.order_id, o.customer_id, o.assigned_to, o.tracking_number, c.email AS customer_email,"
            " d.email AS courier_email FROM orders o JOIN customers c ON c.customer_id = o.customer_id"
            " JOIN delivery_persons d ON d.delivery_person_id = o.assigned_to"
            " WHERE o.status = 'Out for Delivery' ORDER BY o.order_id DESC LIMIT 1"
        )
        ofd = cur.fetchone()
    admin = _login(client, username="explain-admin")
    customer = _login(client, email=ofd["customer_email"])
    courier = _login(client, email=ofd["courier_email"])

    def get_all(path, headers):
        """Walk two pages, so the keyset (cursor) form of the query runs too."""
        body = client.get(path, headers=headers).get_json()
        assert "next_cursor" in body, body
        if body["next_cursor"]:
            sep = "&" if "?" in path else "?"
            client.get(f"{path}{sep}cursor={body['next_cursor']}", headers=headers)

    for path in [
        "/admin/users?limit=5",
        "/admin/users?type=delivery_person&limit=5",
        "/admin/orders?limit=5",
        "/admin/orders?status=Delivered&limit=5",
        "/admin/orders?status=Pending&sort=created_at&limit=5",
        f"/admin/orders?customer_id={ofd['customer_id']}&limit=1",
        f"/admin/orders?assigned_to={ofd['assigned_to']}&limit=5",
        "/admin/orders?created_from=2026-01-01&created_to=2026-02-01&limit=5",
        "/admin/orders?status=Delivered&created_from=2026-01-01&limit=5",
        "/admin/issues?limit=5",
        "/admin/issues?status=Open&limit=5",
    ]:
        get_all(path, admin)
    get_all("/customer/orders?limit=1", customer)
    get_all("/customer/orders?status=Out%20for%20Delivery&limit=1", customer)
    get_all("/delivery/assigned-orders?limit=1", courier)
    get_all("/delivery/history?limit=5", courier)
    assert client.get(f"/customer/track-order/{ofd['order_id']}", headers=customer).status_code == 200
    track = client.get(f"/track/{ofd['tracking_number']}")
    assert track.status_code in (200, 404)  # 404 only until public tracking is registered

    placed = client.post(
        "/customer/place-order",
        json={"delivery_address": "1 Road", "recipient_name": "R"},
        headers={**customer, "Idempotency-Key": "explain-1"},
    ).get_json()["order"]
    client.post(
        "/customer/place-order",
        json={"delivery_address": "1 Road", "recipient_name": "R"},
        headers={**customer, "Idempotency-Key": "explain-1"},
    )
    oid = placed["order_id"]
    client.post("/admin/assign-delivery", json={"order_id": oid, "delivery_person_id": 1}, headers=admin)
    client.post(
        "/admin/assign-delivery",
        json={"order_id": oid, "delivery_person_id": ofd["assigned_to"], "reassign": True},
        headers=admin,
    )
    for status in ("Picked Up", "Out for Delivery"):
        client.patch("/delivery/update-status", json={"order_id": oid, "status": status}, headers=courier)
    client.patch("/delivery/update-location", json={"latitude": 40.1, "longitude": -74.1}, headers=courier)
    client.patch("/delivery/update-location", json={"location": "Corner", "order_id": oid}, headers=courier)
    client.patch(
        "/delivery/update-status",
        json={"order_id": oid, "status": "Failed Attempt", "reason": "refused"},
        headers=courier,
    )
    client.post(f"/admin/return-order/{oid}", headers=admin)
    second = client.post(
        "/customer/place-order", json={"delivery_address": "2 Road", "recipient_name": "S"}, headers=customer
    ).get_json()["order"]
    client.post(f"/customer/cancel-order/{second['order_id']}", headers=customer)
    client.post("/raise-issue", json={"message": "Late", "order_id": ofd["order_id"]}, headers=customer)
    issue = client.post("/raise-issue", json={"message": "Road closed"}, headers=courier).get_json()["issue"]
    client.patch("/admin/issues", json={"issue_id": issue["issue_id"], "response": "OK"}, headers=admin)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT o.order_id FROM orders o LEFT JOIN feedback f ON f.order_id = o.order_id"
            " WHERE o.customer_id = %s AND o.status = 'Delivered' AND f.order_id IS NULL LIMIT 1",
            (ofd["customer_id"],),
        )
        delivered = cur.fetchone()
    if delivered:
        client.post(
            "/customer/feedback",
            json={"order_id": delivered["order_id"], "feedback": "Good"},
            headers=customer,
        )
    client.delete("/admin/delete-user/customer/3", headers=admin)


def explain(conn, statement):
    with conn.cursor() as cur:
        cur.execute("EXPLAIN " + statement)
        return cur.fetchall()


def problems(rows):
    """What is wrong with one statement's plan: full scans and unindexed sorts of hot tables."""
    found = []
    for row in rows:
        table, extra = row.get("table") or "", row.get("Extra") or ""
        if table not in HOT_TABLES:
            continue  # small tables (admins), <union...> and <derived...> results of a few rows
        if row["type"] == "ALL":
            found.append(f"full scan of {table}")
        if "Using filesort" in extra:
            found.append(f"filesort on {table}")
    return found


def test_workload_covered_the_api(recorded):
    text = "\n".join(recorded)
    for fragment in (
        "FROM orders o",
        "order_events",
        "courier_positions",
        "FROM issues",
        "feedback",
        "account_emails",
    ):
        assert fragment in text


def test_no_query_scans_or_sorts_a_hot_table(generated, recorded):
    _, _, conn = generated
    failures = []
    checked = 0
    for statement in recorded:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb not in ("SELECT", "UPDATE", "DELETE") or statement.strip() == "SELECT 1":
            continue
        checked += 1
        found = problems(explain(conn, statement))
        if found:
            failures.append(f"{', '.join(found)}:\n    {statement}")
    assert checked >= 30
    assert not failures, "\n".join(failures)
