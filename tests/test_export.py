"""GET /admin/orders/export.csv: content, filters, quoting, the formula-injection guard, roles, and memory."""

import csv
import io
import tracemalloc
from datetime import UTC, datetime

import pytest
from helpers import assert_error

from courier import export
from courier.orders import order_filters

URL = "/admin/orders/export.csv"
HEADER = [
    "order_id",
    "tracking_number",
    "status",
    "customer_id",
    "assigned_to",
    "pickup_address",
    "delivery_address",
    "recipient_name",
    "recipient_phone",
    "description",
    "weight_kg",
    "created_at",
    "updated_at",
    "closed_at",
]


def download(client, admin, query=""):
    response = client.get(URL + query, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return response


def parse(response):
    """The CSV body as a list of dicts, after checking its header row."""
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


def bulk_orders(sql, customer_id, count, prefix, created="2025-01-01 00:00:00"):
    """`count` orders for one customer in one set-based statement (a cross join of digits)."""
    digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    sql(
        "INSERT INTO orders (tracking_number, customer_id, status, pickup_address, delivery_address,"
        " recipient_name, description, created_at)"
        " SELECT CONCAT(%s, n), %s, 'Pending', 'Pickup Road 1', 'Delivery Lane 2',"
        " CONCAT('Recipient ', n), REPEAT('x', 200), %s + INTERVAL n SECOND"
        f" FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n FROM ({digits}) a, ({digits}) b,"
        f" ({digits}) c, ({digits}) e) numbers WHERE n < %s",
        (prefix, customer_id, created, count),
    )


# --------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------


def test_export_has_every_order_with_its_columns(client, world, orders, sql):
    first = orders.place(
        world.alice,
        pickup_address="10 Depot Way",
        recipient_phone="555 0100",
        description="Books",
        weight_kg=2.5,
    )
    orders.assign(world.admin, first["order_id"], world.dave)
    delivered = orders.delivered(world.bob, world.admin, world.erin)
    response = download(client, world.admin)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert response.headers["Content-Disposition"] == f'attachment; filename="orders-{today}.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    rows = parse(response)
    stored = {row["order_id"]: row for row in sql("SELECT * FROM orders")}
    assert [int(row["order_id"]) for row in rows] == [first["order_id"], delivered["order_id"]]
    row = rows[0]
    db = stored[first["order_id"]]
    assert row == {
        "order_id": str(first["order_id"]),
        "tracking_number": db["tracking_number"],
        "status": "Assigned",
        "customer_id": str(world.alice.id),
        "assigned_to": str(world.dave.id),
        "pickup_address": "10 Depot Way",
        "delivery_address": "1 Delivery Road",
        "recipient_name": "Rita Recipient",
        "recipient_phone": "555 0100",
        "description": "Books",
        "weight_kg": "2.500",
        "created_at": db["created_at"].isoformat(timespec="milliseconds") + "Z",
        "updated_at": db["updated_at"].isoformat(timespec="milliseconds") + "Z",
        "closed_at": "",
    }
    done = rows[1]
    assert done["status"] == "Delivered" and done["assigned_to"] == str(world.erin.id)
    closed = stored[delivered["order_id"]]["closed_at"]
    assert done["closed_at"] == closed.isoformat(timespec="milliseconds") + "Z"
    assert done["recipient_phone"] == done["description"] == done["weight_kg"] == ""


def test_export_of_no_orders_is_the_header_alone(client, world):
    response = download(client, world.admin)
    assert response.get_data(as_text=True) == ",".join(HEADER) + "\r\n"


def test_rows_come_in_creation_order_across_batches(client, world, sql, monkeypatch):
    """Many orders created in the same microsecond: the (created_at, order_id) key neither skips nor repeats."""
    monkeypatch.setattr(export, "BATCH", 7)
    bulk_orders(sql, world.alice.id, 30, "CTTIE", created="2025-01-01 00:00:00")
    sql("UPDATE orders SET created_at = '2025-01-01 00:00:00' WHERE MOD(order_id, 2) = 0")
    ids = [r["order_id"] for r in sql("SELECT order_id FROM orders ORDER BY created_at, order_id")]
    assert len(ids) == 30
    rows = parse(download(client, world.admin))
    assert [int(row["order_id"]) for row in rows] == ids


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(world, orders, sql):
    """Alice: one Pending, one assigned to Dave (created 2025-02-10). Bob: one assigned to Erin."""
    pending = orders.place(world.alice)["order_id"]
    for_dave = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, for_dave, world.dave)
    for_erin = orders.place(world.bob)["order_id"]
    orders.assign(world.admin, for_erin, world.erin)
    sql("UPDATE orders SET created_at = '2025-02-10 12:00:00' WHERE order_id = %s", (for_dave,))
    return {"pending": pending, "dave": for_dave, "erin": for_erin}


def ids_of(client, admin, query):
    return [int(row["order_id"]) for row in parse(download(client, admin, query))]


def test_filters_are_those_of_the_order_list(client, world, mixed):
    admin = world.admin
    assert ids_of(client, admin, "?status=Pending") == [mixed["pending"]]
    assert ids_of(client, admin, "?status=Assigned") == [mixed["dave"], mixed["erin"]]
    assert ids_of(client, admin, f"?customer_id={world.alice.id}") == [mixed["dave"], mixed["pending"]]
    assert ids_of(client, admin, f"?assigned_to={world.erin.id}") == [mixed["erin"]]
    assert ids_of(client, admin, f"?customer_id={world.alice.id}&status=Assigned") == [mixed["dave"]]
    assert ids_of(client, admin, "?created_from=2025-02-10&created_to=2025-02-10") == [mixed["dave"]]
    assert ids_of(client, admin, "?created_to=2025-02-10T11:59:59Z") == []
    assert ids_of(client, admin, "?created_from=2025-02-11") == [mixed["pending"], mixed["erin"]]
    assert ids_of(client, admin, "?status=Cancelled") == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("?status=Lost", "status"),
        ("?customer_id=abc", "customer_id"),
        ("?assigned_to=0", "assigned_to"),
        ("?created_from=last-week", "created_from"),
        ("?created_to=2025-02-30", "created_to"),
    ],
)
def test_bad_filters_are_400_before_streaming(client, world, mixed, query, field):
    response = client.get(URL + query, headers=world.admin.headers)
    body = assert_error(response, 400, "invalid_query")
    assert response.mimetype == "application/json"
    assert field in body["fields"]


# --------------------------------------------------------------------------------------------
# Quoting and formula injection
# --------------------------------------------------------------------------------------------


def test_commas_quotes_and_newlines_survive_a_round_trip(client, world, orders):
    tricky = {
        "recipient_name": 'Smith, "Jo"',
        "description": "Line one\nLine two, with comma",
        "delivery_address": 'Flat 2, "The Old Mill"\r\nMill Lane',
    }
    orders.place(world.alice, **tricky)
    response = download(client, world.admin)
    text = response.get_data(as_text=True)
    assert '"Smith, ""Jo"""' in text
    row = parse(response)[0]
    for name, value in tricky.items():
        assert row[name] == value


def test_formula_like_cells_are_defused(client, world, orders, sql):
    order = orders.place(
        world.alice,
        recipient_name='=HYPERLINK("http://evil.example","x")',
        description="@SUM(A1:A2)",
        delivery_address="-2+3",
        recipient_phone="+1 555 0100",
        pickup_address="Harmless = fine",
    )
    # Leading tab and CR cannot come through the API (values are trimmed): store them directly.
    sql("UPDATE orders SET tracking_number = %s WHERE order_id = %s", ("\tCT1", order["order_id"]))
    other = orders.place(world.bob, recipient_name="Ann", description="cmd")
    sql("UPDATE orders SET description = %s WHERE order_id = %s", ("\rcmd|calc", other["order_id"]))
    rows = parse(download(client, world.admin))
    first, second = rows
    assert first["recipient_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert first["description"] == "'@SUM(A1:A2)"
    assert first["delivery_address"] == "'-2+3"
    assert first["recipient_phone"] == "'+1 555 0100"
    assert first["tracking_number"] == "'\tCT1"
    assert first["pickup_address"] == "Harmless = fine"
    assert second["description"] == "'\rcmd|calc"
    assert second["recipient_name"] == "Ann"


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, ""),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        (7, "7"),
        (datetime(2025, 1, 2, 3, 4, 5, 678901), "2025-01-02T03:04:05.678Z"),
    ],
)
def test_cell(value, expected):
    assert export.cell(value) == expected


# --------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------


def test_no_token_is_401(client):
    assert_error(client.get(URL), 401, "missing_token")
    assert_error(client.get(URL, headers={"Authorization": "Bearer nope"}), 401)


@pytest.mark.parametrize("role", ["alice", "dave"])
def test_customer_and_courier_get_403(client, world, orders, role):
    orders.place(world.alice)
    response = client.get(URL, headers=getattr(world, role).headers)
    assert_error(response, 403, "wrong_role")
    assert b"order_id" not in response.data


# --------------------------------------------------------------------------------------------
# Constant memory
# --------------------------------------------------------------------------------------------


def peak_bytes(app, where, args):
    """tracemalloc's peak while the CSV is generated chunk by chunk (each chunk dropped, as when sent)."""
    with app.app_context():
        tracemalloc.start()
        try:
            rows = 0
            for chunk in export.csv_chunks(where, args):
                rows += chunk.count("\r\n")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return rows - 1, peak


def test_memory_stays_flat_as_the_export_grows(app, world, sql):
    """One batch of rows against ten: the peak stays that of one batch (all at once would be ~10 times)."""
    assert export.BATCH == 1000
    bulk_orders(sql, world.alice.id, 1000, "CTSMALL")
    bulk_orders(sql, world.bob.id, 10000, "CTLARGE")
    small = order_filters(customer_id=world.alice.id)
    large = order_filters(customer_id=world.bob.id)
    peak_bytes(app, *small)  # warm up: imports and caches are not the export's memory
    rows_small, peak_small = peak_bytes(app, *small)
    rows_large, peak_large = peak_bytes(app, *large)
    assert (rows_small, rows_large) == (1000, 10000)
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)


def test_a_large_export_through_the_endpoint(client, world, sql):
    bulk_orders(sql, world.alice.id, 2500, "CTBULK")
    rows = parse(download(client, world.admin))
    assert len(rows) == 2500 and len({row["order_id"] for row in rows}) == 2500
    assert [row["tracking_number"] for row in rows[:2]] == ["CTBULK0", "CTBULK1"]
    assert rows[-1]["tracking_number"] == "CTBULK2499"
