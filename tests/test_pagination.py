"""Keyset pagination and filters on every list: limits, opaque cursors, allow-listed sorts, and 250-row walks."""

from datetime import datetime, timedelta

import pytest

BASE = datetime(2026, 3, 1, 8, 0, 0)
N = 250


def insert_many(sql, table, columns, rows):
    """One multi-row INSERT (fast), instead of one API call per row."""
    values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", [v for row in rows for v in row])


def make_orders(sql, customer_id, n=N, assigned_to=None, status="Pending", closed=False, start=0):
    """n orders; every 3 share a created_at (and closed_at), so the id tie-breaker matters."""
    rows = []
    for i in range(start, start + n):
        at = BASE + timedelta(minutes=i // 3)
        rows.append(
            (f"CTPAGE{i:012d}", customer_id, assigned_to, status, "1 Pickup", "2 Drop", "Rita", at,
             at + timedelta(hours=1) if closed else None)
        )  # fmt: skip
    columns = ["tracking_number", "customer_id", "assigned_to", "status", "pickup_address", "delivery_address",
               "recipient_name", "created_at", "closed_at"]  # fmt: skip
    insert_many(sql, "orders", columns, rows)


def walk(client, url, headers, key, id_key, limit, cursor=None, max_pages=100):
    """Follow next_cursor to the end; return every item's id in order and the page sizes."""
    ids, sizes = [], []
    separator = "&" if "?" in url else "?"
    for _ in range(max_pages):
        query = f"{url}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(query, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert set(body) == {key, "next_cursor"}
        ids += [item[id_key] for item in body[key]]
        sizes.append(len(body[key]))
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, sizes
    raise AssertionError("the list never ended")


def order_ids(sql, where="1=1", args=(), order="created_at DESC, order_id DESC"):
    return [r["order_id"] for r in sql(f"SELECT order_id FROM orders WHERE {where} ORDER BY {order}", args)]


def order_ids_of_issues(sql, where):
    return [r["issue_id"] for r in sql(f"SELECT issue_id FROM issues WHERE {where} ORDER BY issue_id DESC")]


# Every list endpoint: (path, role attribute of `world`, the list's key).
LISTS = [
    ("/admin/users", "admin", "users"),
    ("/admin/orders", "admin", "orders"),
    ("/admin/issues", "admin", "issues"),
    ("/customer/orders", "alice", "orders"),
    ("/delivery/assigned-orders", "dave", "orders"),
    ("/delivery/history", "dave", "orders"),
]


@pytest.fixture
def filled(world, sql):
    """25 of each kind of row, so every list has more than one default page."""
    make_orders(sql, world.alice.id, 25)
    make_orders(sql, world.alice.id, 25, world.dave.id, "Assigned", start=100)
    make_orders(sql, world.alice.id, 25, world.dave.id, "Delivered", closed=True, start=200)
    insert_many(sql, "issues", ["user_type", "user_id", "message"], [("customer", world.alice.id, "m")] * 25)
    insert_many(
        sql,
        "customers",
        ["name", "email", "password", "address"],
        [(f"C{i}", f"c{i}@x.test", "x", "a") for i in range(25)],
    )
    return world


@pytest.mark.parametrize("path, who, key", LISTS)
def test_default_limit_is_20_and_100_is_allowed(client, filled, path, who, key):
    headers = getattr(filled, who).headers
    body = client.get(path, headers=headers).get_json()
    assert len(body[key]) == 20 and body["next_cursor"]
    body = client.get(f"{path}?limit=100", headers=headers).get_json()
    assert 20 < len(body[key]) <= 100
    body = client.get(f"{path}?limit=1", headers=headers).get_json()
    assert len(body[key]) == 1 and body["next_cursor"]


@pytest.mark.parametrize("path, who, key", LISTS)
@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=101", "limit"),
        ("limit=1000", "limit"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=abc", "limit"),
        ("limit=2.5", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=WyJ4IiwgWzFdXQ", "cursor"),  # valid base64 JSON, but for another sort
        ("sort=password", "sort"),
        ("sort=order_id;DROP TABLE orders", "sort"),
    ],
)
def test_bad_paging_arguments_are_400_not_clamped(client, world, path, who, key, query, field):
    response = client.get(f"{path}?{query}", headers=getattr(world, who).headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] in ("invalid_query", "invalid_cursor")
    assert field in body["fields"] and body["error"]


@pytest.mark.parametrize("path, who, key", LISTS)
def test_cursor_of_another_sort_is_refused(client, filled, path, who, key):
    """A cursor is bound to the sort it was made for; lists with one sort still refuse a foreign one."""
    headers = getattr(filled, who).headers
    other = "/admin/issues?sort=issue_id" if path != "/admin/issues" else "/admin/orders"
    admin_cursor = client.get(f"{other}&limit=1" if "?" in other else f"{other}?limit=1",
                              headers=filled.admin.headers).get_json()["next_cursor"]  # fmt: skip
    assert admin_cursor
    response = client.get(f"{path}?cursor={admin_cursor}", headers=headers)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("sort", ["-created_at", "created_at"])
def test_walk_250_admin_orders(client, world, sql, sort):
    make_orders(sql, world.alice.id)
    ids, sizes = walk(client, f"/admin/orders?sort={sort}", world.admin.headers, "orders", "order_id", 20)
    order = "created_at DESC, order_id DESC" if sort.startswith("-") else "created_at, order_id"
    assert ids == order_ids(sql, order=order)
    assert len(ids) == len(set(ids)) == N
    assert sizes == [20] * 12 + [10]


def test_walk_250_admin_orders_exact_pages(client, world, sql):
    """250 rows in pages of 50: five full pages, and the fifth says it is the last."""
    make_orders(sql, world.alice.id)
    ids, sizes = walk(client, "/admin/orders", world.admin.headers, "orders", "order_id", 50)
    assert sizes == [50] * 5 and ids == order_ids(sql)


def test_walk_is_stable_when_rows_arrive_mid_walk(client, world, orders, sql):
    """Keyset, not offsets: a new order placed during the walk shifts nothing (it is newer than the cursor)."""
    make_orders(sql, world.alice.id)
    expected = order_ids(sql)
    first = client.get("/admin/orders?limit=100", headers=world.admin.headers).get_json()
    orders.place(world.bob)
    rest, _ = walk(
        client, "/admin/orders", world.admin.headers, "orders", "order_id", 100, first["next_cursor"]
    )
    assert [o["order_id"] for o in first["orders"]] + rest == expected


@pytest.mark.parametrize("sort", ["-issue_id", "issue_id"])
def test_walk_250_admin_issues(client, world, sql, sort):
    rows = [("customer", world.alice.id, f"issue {i}", "Open" if i % 2 else "Resolved") for i in range(N)]
    insert_many(sql, "issues", ["user_type", "user_id", "message", "status"], rows)
    ids, _ = walk(client, f"/admin/issues?sort={sort}", world.admin.headers, "issues", "issue_id", 33)
    all_ids = [r["issue_id"] for r in sql("SELECT issue_id FROM issues ORDER BY issue_id")]
    assert ids == (all_ids[::-1] if sort.startswith("-") else all_ids)
    open_ids, _ = walk(client, "/admin/issues?status=Open", world.admin.headers, "issues", "issue_id", 40)
    expected = order_ids_of_issues(sql, "status = 'Open'")
    assert open_ids == expected and len(open_ids) == 125


def test_walk_250_admin_users_across_types(client, world, sql):
    """Users page through customers, then couriers, then admins, each by id, across the type boundaries."""
    insert_many(sql, "customers", ["name", "email", "password", "address"],
                [(f"C{i}", f"c{i}@x.test", "x", "a") for i in range(100)])  # fmt: skip
    insert_many(sql, "delivery_persons", ["name", "email", "password"],
                [(f"D{i}", f"d{i}@x.test", "x") for i in range(100)])  # fmt: skip
    insert_many(sql, "admins", ["username", "password"], [(f"adm{i}", "x") for i in range(46)])
    sql("UPDATE customers SET deleted_at = UTC_TIMESTAMP(6) WHERE name = 'C7'")
    expected = []
    for kind, table, column in [
        ("customer", "customers", "customer_id"),
        ("delivery_person", "delivery_persons", "delivery_person_id"),
        ("admin", "admins", "id"),
    ]:
        live = sql(f"SELECT {column} AS id FROM {table} WHERE deleted_at IS NULL ORDER BY {column}")
        expected += [(kind, row["id"]) for row in live]
    assert len(expected) == N  # 101 live customers, 102 couriers and 47 admins, with the world's
    seen = []
    cursor = None
    while True:
        url = "/admin/users?limit=17" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=world.admin.headers).get_json()
        seen += [(u["user_type"], u["id"]) for u in body["users"]]
        assert all("password" not in u for u in body["users"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    couriers, _ = walk(client, "/admin/users?type=delivery_person", world.admin.headers, "users", "id", 30)
    assert couriers == [uid for kind, uid in expected if kind == "delivery_person"]


def test_walk_250_customer_orders_only_own(client, world, sql):
    make_orders(sql, world.alice.id)
    make_orders(sql, world.bob.id, 30, start=1000)
    ids, _ = walk(client, "/customer/orders", world.alice.headers, "orders", "order_id", 100)
    assert ids == order_ids(sql, "customer_id = %s", (world.alice.id,)) and len(ids) == N
    ids, _ = walk(client, "/customer/orders?sort=created_at", world.alice.headers, "orders", "order_id", 64)
    assert ids == order_ids(sql, "customer_id = %s", (world.alice.id,), "created_at, order_id")


def test_walk_250_courier_assigned_and_history(client, world, sql):
    make_orders(sql, world.alice.id, N, world.dave.id, "In Transit")
    make_orders(sql, world.alice.id, N, world.dave.id, "Delivered", closed=True, start=N)
    make_orders(sql, world.alice.id, 20, world.erin.id, "Assigned", start=2 * N)
    ids, _ = walk(client, "/delivery/assigned-orders", world.dave.headers, "orders", "order_id", 21)
    assert ids == order_ids(sql, "assigned_to = %s AND closed_at IS NULL", (world.dave.id,), "order_id")
    assert len(ids) == N
    ids, _ = walk(client, "/delivery/history", world.dave.headers, "orders", "order_id", 19)
    expected = order_ids(
        sql, "assigned_to = %s AND closed_at IS NOT NULL", (world.dave.id,), "closed_at DESC, order_id DESC"
    )
    assert ids == expected and len(ids) == N


def test_admin_order_filters(client, world, sql):
    make_orders(sql, world.alice.id, 30)
    make_orders(sql, world.bob.id, 30, world.dave.id, "Assigned", start=300)
    make_orders(sql, world.bob.id, 12, world.erin.id, "Out for Delivery", start=600)
    admin = world.admin.headers

    def ids(query):
        found, _ = walk(client, f"/admin/orders?{query}", admin, "orders", "order_id", 100)
        return sorted(found)

    def rows(where, args=()):
        return sorted(order_ids(sql, where, args))

    assert ids("status=Assigned") == rows("status = 'Assigned'") and len(ids("status=Assigned")) == 30
    assert ids(f"customer_id={world.bob.id}") == rows("customer_id = %s", (world.bob.id,))
    assert ids(f"assigned_to={world.erin.id}") == rows("assigned_to = %s", (world.erin.id,))
    both = ids(f"customer_id={world.bob.id}&status=Out%20for%20Delivery")
    assert both == rows("assigned_to = %s", (world.erin.id,)) and len(both) == 12
    # Dates: orders i=300..329 were created at BASE + i//3 minutes; a date alone covers the whole day.
    start, end = BASE + timedelta(minutes=100), BASE + timedelta(minutes=105)
    query = f"created_from={start.isoformat()}Z&created_to={end.isoformat()}Z"
    assert ids(query) == rows("created_at BETWEEN %s AND %s", (start, end)) and len(ids(query)) == 18
    assert len(ids("created_from=2026-03-01&created_to=2026-03-01")) == 72
    assert ids("created_from=2026-03-02") == [] and ids("created_to=2026-02-28") == []


@pytest.mark.parametrize(
    "path, query",
    [
        ("/admin/orders", "status=Lost"),
        ("/admin/orders", "customer_id=abc"),
        ("/admin/orders", "assigned_to=0"),
        ("/admin/orders", "created_from=yesterday"),
        ("/admin/orders", "created_to=2026-13-01"),
        ("/admin/users", "type=superuser"),
        ("/admin/issues", "status=Done"),
        ("/customer/orders", "status=pending"),
        ("/customer/orders", "created_from=0001-01-01T00:00:00%2B05:00"),
    ],
)
def test_bad_filters_are_400(client, world, path, query):
    who = world.alice if path.startswith("/customer") else world.admin
    response = client.get(f"{path}?{query}", headers=who.headers)
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {query.split("=")[0]}


def test_customer_orders_filters(client, world, sql):
    make_orders(sql, world.alice.id, 10)
    make_orders(sql, world.alice.id, 5, world.dave.id, "Assigned", start=50)
    make_orders(sql, world.bob.id, 5, world.dave.id, "Assigned", start=80)
    body = client.get("/customer/orders?status=Assigned", headers=world.alice.headers).get_json()
    assert sorted(o["order_id"] for o in body["orders"]) == sorted(
        order_ids(sql, "customer_id = %s AND status = 'Assigned'", (world.alice.id,))
    )
    # customer_id is not a customer's filter: another customer's id cannot widen the list.
    body = client.get(f"/customer/orders?customer_id={world.bob.id}", headers=world.alice.headers).get_json()
    assert {o["customer_id"] for o in body["orders"]} == {world.alice.id}
