"""Admin endpoints: users, orders, assignment, cancellation, deleting accounts and answering issues."""

import pytest
from helpers import assert_error, count, events, order_row

ADMIN_ENDPOINTS = [
    ("get", "/admin/users", None),
    ("get", "/admin/orders", None),
    ("post", "/admin/assign-delivery", {"order_id": 1, "delivery_person_id": 1}),
    ("post", "/admin/cancel-order/1", None),
    ("delete", "/admin/delete-user/customer/1", None),
    ("get", "/admin/issues", None),
    ("patch", "/admin/issues", {"issue_id": 1, "status": "Closed"}),
]


def call(client, method, url, body=None, headers=None):
    return getattr(client, method)(url, json=body, headers=headers or {})


# --------------------------------------------------------------------------------------------
# Authentication and roles, for every admin endpoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, url, body", ADMIN_ENDPOINTS)
def test_no_token_is_401(client, method, url, body):
    assert_error(call(client, method, url, body), 401, "missing_token")


@pytest.mark.parametrize("method, url, body", ADMIN_ENDPOINTS)
def test_garbage_token_is_401(client, method, url, body):
    assert_error(call(client, method, url, body, {"Authorization": "Bearer not.a.jwt"}), 401)


@pytest.mark.parametrize("method, url, body", ADMIN_ENDPOINTS)
@pytest.mark.parametrize("role", ["alice", "dave"])
def test_customer_and_courier_get_403(client, world, method, url, body, role):
    headers = getattr(world, role).headers
    assert_error(call(client, method, url, body, headers), 403, "wrong_role")


def test_wrong_role_changes_nothing(client, world, orders, sql):
    order = orders.place(world.alice)
    oid = order["order_id"]
    body = {"order_id": oid, "delivery_person_id": world.dave.id}
    assert_error(client.post("/admin/assign-delivery", json=body, headers=world.alice.headers), 403)
    assert_error(client.post(f"/admin/cancel-order/{oid}", headers=world.alice.headers), 403)
    url = f"/admin/delete-user/customer/{world.bob.id}"
    assert_error(client.delete(url, headers=world.dave.headers), 403)
    row = order_row(sql, oid)
    assert row["status"] == "Pending" and row["assigned_to"] is None
    assert count(sql, "order_events", "order_id = %s", (oid,)) == 1
    assert sql("SELECT deleted_at FROM customers WHERE customer_id = %s", (world.bob.id,), one=True) == {
        "deleted_at": None
    }


# --------------------------------------------------------------------------------------------
# GET /admin/users
# --------------------------------------------------------------------------------------------


def test_users_lists_every_type(client, world):
    response = client.get("/admin/users", headers=world.admin.headers)
    assert response.status_code == 200
    body = response.get_json()
    users = body["users"]
    assert [(u["user_type"], u["id"]) for u in users] == [
        ("customer", world.alice.id),
        ("customer", world.bob.id),
        ("delivery_person", world.dave.id),
        ("delivery_person", world.erin.id),
        ("admin", world.admin.id),
    ]
    assert body["next_cursor"] is None
    alice = users[0]
    assert alice["email"] == world.alice.login and alice["name"] == world.alice.name
    assert alice["address"].endswith("Test Street")
    assert users[2]["email"] == world.dave.login and users[2]["name"] == world.dave.name
    assert users[4]["username"] == world.admin.login


@pytest.mark.parametrize(
    "user_type, members",
    [("customer", ["alice", "bob"]), ("delivery_person", ["dave", "erin"]), ("admin", ["admin"])],
)
def test_users_type_filter(client, world, user_type, members):
    response = client.get("/admin/users", query_string={"type": user_type}, headers=world.admin.headers)
    assert response.status_code == 200
    users = response.get_json()["users"]
    assert {u["user_type"] for u in users} == {user_type}
    assert [u["id"] for u in users] == [getattr(world, m).id for m in members]


@pytest.mark.parametrize("bad", ["customers", "courier", "ADMIN", "delivery person"])
def test_users_bad_type_is_400(client, world, bad):
    response = client.get("/admin/users", query_string={"type": bad}, headers=world.admin.headers)
    body = assert_error(response, 400)
    assert "type" in body["fields"]


def test_users_never_show_password_hashes(client, world, sql):
    hashes = [
        row["password"] for row in sql("SELECT password FROM customers UNION ALL SELECT password FROM admins")
    ]
    assert hashes and all(h.startswith("$2") for h in hashes)  # the hashes are really stored
    for query in ({}, {"type": "customer"}, {"type": "delivery_person"}, {"type": "admin"}):
        response = client.get("/admin/users", query_string=query, headers=world.admin.headers)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert "$2b$" not in text and not any(h in text for h in hashes)
        for user in response.get_json()["users"]:
            assert not any("password" in key for key in user)


def test_users_deleted_users_are_not_listed(client, world):
    for url in (
        f"/admin/delete-user/customer/{world.bob.id}",
        f"/admin/delete-user/delivery_person/{world.erin.id}",
    ):
        assert client.delete(url, headers=world.admin.headers).status_code == 200
    users = client.get("/admin/users", headers=world.admin.headers).get_json()["users"]
    listed = {(u["user_type"], u["id"]) for u in users}
    assert ("customer", world.bob.id) not in listed
    assert ("delivery_person", world.erin.id) not in listed
    assert ("customer", world.alice.id) in listed and ("delivery_person", world.dave.id) in listed


def test_users_pages_with_a_cursor(client, world):
    first = client.get("/admin/users", query_string={"limit": 2}, headers=world.admin.headers).get_json()
    assert len(first["users"]) == 2 and first["next_cursor"]
    seen = [(u["user_type"], u["id"]) for u in first["users"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(
            "/admin/users", query_string={"limit": 2, "cursor": cursor}, headers=world.admin.headers
        ).get_json()
        seen += [(u["user_type"], u["id"]) for u in page["users"]]
        cursor = page["next_cursor"]
    assert len(seen) == 5 == len(set(seen))


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "abc"}, {"cursor": "garbage"}, {"sort": "name"}])
def test_users_bad_paging_is_400(client, world, query):
    assert_error(client.get("/admin/users", query_string=query, headers=world.admin.headers), 400)


# --------------------------------------------------------------------------------------------
# GET /admin/orders
# --------------------------------------------------------------------------------------------


@pytest.fixture
def some_orders(world, orders):
    """Alice: one Pending and one Assigned to Dave; Bob: one Picked Up by Erin."""
    a1 = orders.place(world.alice)
    a2 = orders.place(world.alice)
    orders.assign(world.admin, a2["order_id"], world.dave)
    b1 = orders.place(world.bob)
    orders.assign(world.admin, b1["order_id"], world.erin)
    orders.move(world.erin, b1["order_id"], "Picked Up")
    return a1["order_id"], a2["order_id"], b1["order_id"]


def admin_order_ids(client, admin, **query):
    response = client.get("/admin/orders", query_string=query, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return [o["order_id"] for o in response.get_json()["orders"]]


def test_orders_lists_all_newest_first(client, world, some_orders):
    a1, a2, b1 = some_orders
    response = client.get("/admin/orders", headers=world.admin.headers)
    body = response.get_json()
    assert [o["order_id"] for o in body["orders"]] == [b1, a2, a1]
    assert body["next_cursor"] is None
    for order in body["orders"]:
        assert {"order_id", "customer_id", "assigned_to", "status", "tracking_number"} <= set(order)
        assert "idempotency_key" not in order and "request_hash" not in order


def test_orders_status_filter(client, world, some_orders):
    a1, a2, b1 = some_orders
    assert admin_order_ids(client, world.admin, status="Pending") == [a1]
    assert admin_order_ids(client, world.admin, status="Assigned") == [a2]
    assert admin_order_ids(client, world.admin, status="Picked Up") == [b1]
    assert admin_order_ids(client, world.admin, status="Delivered") == []


def test_orders_customer_and_courier_filters(client, world, some_orders):
    a1, a2, b1 = some_orders
    assert admin_order_ids(client, world.admin, customer_id=world.alice.id) == [a2, a1]
    assert admin_order_ids(client, world.admin, customer_id=world.bob.id) == [b1]
    assert admin_order_ids(client, world.admin, assigned_to=world.dave.id) == [a2]
    assert admin_order_ids(client, world.admin, assigned_to=world.erin.id) == [b1]
    assert admin_order_ids(client, world.admin, customer_id=world.alice.id, status="Pending") == [a1]
    assert admin_order_ids(client, world.admin, customer_id=999999) == []


def test_orders_created_date_filters(client, world, some_orders, sql):
    a1, a2, b1 = some_orders
    sql("UPDATE orders SET created_at = '2020-01-15 12:00:00' WHERE order_id = %s", (a1,))
    sql("UPDATE orders SET created_at = '2021-06-01 08:30:00' WHERE order_id = %s", (a2,))
    admin = world.admin
    assert admin_order_ids(client, admin, created_to="2020-01-15") == [a1]  # the whole day counts
    assert admin_order_ids(client, admin, created_from="2020-01-16", created_to="2021-12-31") == [a2]
    assert admin_order_ids(client, admin, created_from="2021-06-01T08:30:00Z") == [b1, a2]
    assert admin_order_ids(client, admin, created_from="2021-06-01T08:30:01Z") == [b1]
    assert admin_order_ids(client, admin, created_from="2030-01-01") == []


@pytest.mark.parametrize(
    "query, field",
    [
        ({"status": "Lost"}, "status"),
        ({"status": "pending"}, "status"),
        ({"customer_id": "abc"}, "customer_id"),
        ({"customer_id": "0"}, "customer_id"),
        ({"assigned_to": "1.5"}, "assigned_to"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2024-13-01"}, "created_to"),
        ({"sort": "status"}, "sort"),
        ({"limit": "1000"}, "limit"),
    ],
)
def test_orders_bad_filter_is_400(client, world, query, field):
    body = assert_error(client.get("/admin/orders", query_string=query, headers=world.admin.headers), 400)
    assert field in body["fields"]


# --------------------------------------------------------------------------------------------
# POST /admin/assign-delivery
# --------------------------------------------------------------------------------------------


def assign(client, admin, **body):
    return client.post("/admin/assign-delivery", json=body, headers=admin.headers)


def test_assign_happy_path(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.dave.id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Order assigned successfully"
    assert body["order"]["order_id"] == oid
    assert body["order"]["status"] == "Assigned" and body["order"]["assigned_to"] == world.dave.id
    row = order_row(sql, oid)
    assert row["status"] == "Assigned" and row["assigned_to"] == world.dave.id and row["closed_at"] is None
    assignment = events(sql, oid, "assignment")
    assert len(assignment) == 1
    event = assignment[0]
    assert event["status"] == "Assigned"
    assert event["actor_role"] == "admin" and event["actor_id"] == world.admin.id
    assert world.dave.name in event["note"]
    assert len(events(sql, oid)) == 2  # created + assignment


def test_assign_shows_up_for_the_courier(client, world, orders):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    dave = client.get("/delivery/assigned-orders", headers=world.dave.headers).get_json()["orders"]
    erin = client.get("/delivery/assigned-orders", headers=world.erin.headers).get_json()["orders"]
    assert [o["order_id"] for o in dave] == [oid] and erin == []


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"order_id": "required", "delivery_person_id": "required"}),
        ({"order_id": 1}, {"delivery_person_id": "required"}),
        ({"delivery_person_id": 1}, {"order_id": "required"}),
        ({"order_id": None, "delivery_person_id": 1}, {"order_id": "required"}),
    ],
)
def test_assign_missing_fields(client, world, orders, sql, body, fields):
    orders.place(world.alice)
    response = assign(client, world.admin, **body)
    result = assert_error(response, 400)
    assert result["error"] == "Missing required fields"
    assert result["fields"] == fields
    assert count(sql, "orders", "status = 'Pending' AND assigned_to IS NULL") == 1
    assert count(sql, "order_events", "type = 'assignment'") == 0


@pytest.mark.parametrize(
    "override, field",
    [
        ({"order_id": "1"}, "order_id"),
        ({"order_id": 1.5}, "order_id"),
        ({"order_id": 0}, "order_id"),
        ({"order_id": -3}, "order_id"),
        ({"order_id": True}, "order_id"),
        ({"delivery_person_id": "dave"}, "delivery_person_id"),
        ({"delivery_person_id": [1]}, "delivery_person_id"),
        ({"reassign": "yes"}, "reassign"),
        ({"reassign": 1}, "reassign"),
        ({"courier": 1}, "courier"),
    ],
)
def test_assign_invalid_fields(client, world, orders, sql, override, field):
    oid = orders.place(world.alice)["order_id"]
    body = {"order_id": oid, "delivery_person_id": world.dave.id, **override}
    result = assert_error(assign(client, world.admin, **body), 400)
    assert field in result["fields"]
    assert order_row(sql, oid)["status"] == "Pending"
    assert count(sql, "order_events", "type = 'assignment'") == 0


@pytest.mark.parametrize("data", ["order_id=1&delivery_person_id=1", "[1, 2]", "null", "{"])
def test_assign_body_not_json_object(client, world, data):
    response = client.post(
        "/admin/assign-delivery", data=data, content_type="application/json", headers=world.admin.headers
    )
    assert_error(response, 400)


def test_assign_unknown_order_is_404(client, world, sql):
    response = assign(client, world.admin, order_id=424242, delivery_person_id=world.dave.id)
    assert_error(response, 404, "order_not_found")
    assert count(sql, "order_events") == 0


def test_assign_unknown_courier_is_404(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = assign(client, world.admin, order_id=oid, delivery_person_id=424242)
    assert_error(response, 404, "delivery_person_not_found")
    row = order_row(sql, oid)
    assert row["status"] == "Pending" and row["assigned_to"] is None


def test_assign_deleted_courier_is_404(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    url = f"/admin/delete-user/delivery_person/{world.erin.id}"
    assert client.delete(url, headers=world.admin.headers).status_code == 200
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.erin.id)
    assert_error(response, 404, "delivery_person_not_found")
    row = order_row(sql, oid)
    assert row["status"] == "Pending" and row["assigned_to"] is None


@pytest.mark.parametrize("extra", [{}, {"reassign": False}])
def test_assign_already_assigned_is_409(client, world, orders, sql, extra):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.erin.id, **extra)
    body = assert_error(response, 409, "already_assigned")
    assert "reassign" in body["error"]
    assert order_row(sql, oid)["assigned_to"] == world.dave.id
    assert len(events(sql, oid, "assignment")) == 1


def test_reassign_moves_the_order(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.erin.id, reassign=True)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["order"]["assigned_to"] == world.erin.id
    row = order_row(sql, oid)
    assert row["assigned_to"] == world.erin.id and row["status"] == "Assigned"
    assignment = events(sql, oid, "assignment")
    assert len(assignment) == 2
    assert "Reassigned" in assignment[1]["note"] and world.erin.name in assignment[1]["note"]
    # The old courier loses it; the new one has it.
    dave = client.get("/delivery/assigned-orders", headers=world.dave.headers).get_json()["orders"]
    erin = client.get("/delivery/assigned-orders", headers=world.erin.headers).get_json()["orders"]
    assert dave == [] and [o["order_id"] for o in erin] == [oid]
    moved = client.patch(
        "/delivery/update-status", json={"order_id": oid, "status": "Picked Up"}, headers=world.dave.headers
    )
    assert_error(moved, 404)


def test_reassign_to_the_same_courier_is_409(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.dave.id, reassign=True)
    assert_error(response, 409)
    assert len(events(sql, oid, "assignment")) == 1


def test_reassign_true_on_a_pending_order_assigns_it(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.dave.id, reassign=True)
    assert response.status_code == 200
    assert order_row(sql, oid)["assigned_to"] == world.dave.id


@pytest.mark.parametrize("final", ["Delivered", "Cancelled", "Returned"])
@pytest.mark.parametrize("reassign", [False, True])
def test_assign_final_order_is_409(client, world, orders, sql, final, reassign):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    if final == "Cancelled":
        assert client.post(f"/admin/cancel-order/{oid}", headers=world.admin.headers).status_code == 200
    elif final == "Delivered":
        orders.move(world.dave, oid, "Picked Up", "Out for Delivery", "Delivered")
    else:
        orders.move(world.dave, oid, "Picked Up", "Out for Delivery", "Failed Attempt", "Returned")
    before = len(events(sql, oid))
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.erin.id, reassign=reassign)
    body = assert_error(response, 409, "illegal_transition")
    assert body["allowed"] == [] and body["current_status"] == final
    row = order_row(sql, oid)
    assert row["status"] == final and row["assigned_to"] == world.dave.id
    assert len(events(sql, oid)) == before


def test_reassign_after_pickup_is_409(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up")
    response = assign(client, world.admin, order_id=oid, delivery_person_id=world.erin.id, reassign=True)
    body = assert_error(response, 409, "illegal_transition")
    assert isinstance(body["allowed"], list) and "Assigned" not in body["allowed"]
    assert order_row(sql, oid)["assigned_to"] == world.dave.id


# --------------------------------------------------------------------------------------------
# POST /admin/cancel-order/<id>
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("assigned", [False, True])
def test_admin_cancel(client, world, orders, sql, assigned):
    oid = orders.place(world.alice)["order_id"]
    if assigned:
        orders.assign(world.admin, oid, world.dave)
    response = client.post(f"/admin/cancel-order/{oid}", headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "Order cancelled" and body["order"]["status"] == "Cancelled"
    row = order_row(sql, oid)
    assert row["status"] == "Cancelled" and row["closed_at"] is not None
    last = events(sql, oid)[-1]
    assert last["type"] == "status" and last["status"] == "Cancelled"
    assert last["actor_role"] == "admin" and last["actor_id"] == world.admin.id


def test_admin_cancel_records_the_reason(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = client.post(
        f"/admin/cancel-order/{oid}", json={"reason": "  Customer called  "}, headers=world.admin.headers
    )
    assert response.status_code == 200
    assert events(sql, oid)[-1]["note"] == "Customer called"


@pytest.mark.parametrize("final", ["Delivered", "Cancelled"])
def test_admin_cancel_final_order_is_409(client, world, orders, sql, final):
    if final == "Delivered":
        oid = orders.delivered(world.alice, world.admin, world.dave)["order_id"]
    else:
        oid = orders.place(world.alice)["order_id"]
        assert client.post(f"/admin/cancel-order/{oid}", headers=world.admin.headers).status_code == 200
    before = len(events(sql, oid))
    body = assert_error(client.post(f"/admin/cancel-order/{oid}", headers=world.admin.headers), 409)
    assert body["allowed"] == [] and body["current_status"] == final
    assert order_row(sql, oid)["status"] == final
    assert len(events(sql, oid)) == before


def test_admin_cancel_unknown_order_is_404(client, world, sql):
    assert_error(
        client.post("/admin/cancel-order/424242", headers=world.admin.headers), 404, "order_not_found"
    )
    assert count(sql, "order_events") == 0


@pytest.mark.parametrize("body", [{"reason": 5}, {"why": "x"}, {"reason": "x" * 501}])
def test_admin_cancel_invalid_body_is_400(client, world, orders, sql, body):
    oid = orders.place(world.alice)["order_id"]
    assert_error(client.post(f"/admin/cancel-order/{oid}", json=body, headers=world.admin.headers), 400)
    assert order_row(sql, oid)["status"] == "Pending"


def test_admin_cancel_non_json_body_is_400(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = client.post(
        f"/admin/cancel-order/{oid}", data="please", content_type="text/plain", headers=world.admin.headers
    )
    assert_error(response, 400)
    assert order_row(sql, oid)["status"] == "Pending"


# --------------------------------------------------------------------------------------------
# DELETE /admin/delete-user/<user_type>/<id>
# --------------------------------------------------------------------------------------------

TABLES = {
    "customer": ("customers", "customer_id"),
    "delivery_person": ("delivery_persons", "delivery_person_id"),
    "admin": ("admins", "id"),
}


def deleted_at(sql, user_type, user_id):
    table, column = TABLES[user_type]
    return sql(f"SELECT deleted_at FROM {table} WHERE {column} = %s", (user_id,), one=True)["deleted_at"]


@pytest.mark.parametrize("user_type", ["customer", "delivery_person", "admin"])
def test_delete_user_each_type(client, auth, world, sql, user_type):
    victim = {"customer": world.bob, "delivery_person": world.erin, "admin": auth.admin()}[user_type]
    response = client.delete(f"/admin/delete-user/{user_type}/{victim.id}", headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "User deleted successfully"
    assert body["user_type"] == user_type and body["user_id"] == victim.id
    assert deleted_at(sql, user_type, victim.id) is not None
    # The row is kept (soft delete) and nobody else was touched.
    table, _ = TABLES[user_type]
    assert count(sql, table, "deleted_at IS NOT NULL") == 1
    listed = client.get("/admin/users", query_string={"type": user_type}, headers=world.admin.headers)
    assert victim.id not in [u["id"] for u in listed.get_json()["users"]]


@pytest.mark.parametrize("user_type", ["customer", "delivery_person", "admin"])
def test_deleted_account_cannot_log_in_and_its_token_dies(client, auth, world, user_type):
    victim = {"customer": world.bob, "delivery_person": world.erin, "admin": auth.admin()}[user_type]
    probe = {
        "customer": "/customer/orders",
        "delivery_person": "/delivery/assigned-orders",
        "admin": "/admin/users",
    }
    assert client.get(probe[user_type], headers=victim.headers).status_code == 200
    response = client.delete(f"/admin/delete-user/{user_type}/{victim.id}", headers=world.admin.headers)
    assert response.status_code == 200
    key = "username" if user_type == "admin" else "email"
    login = auth.login(**{key: victim.login})
    assert login.status_code == 401
    assert login.get_json()["error"] == "Invalid credentials"
    assert_error(client.get(probe[user_type], headers=victim.headers), 401)


@pytest.mark.parametrize("bad", ["courier", "customers", "Admin", "user"])
def test_delete_user_unknown_type_is_400(client, world, sql, bad):
    body = assert_error(
        client.delete(f"/admin/delete-user/{bad}/{world.bob.id}", headers=world.admin.headers), 400
    )
    assert "user_type" in body["fields"]
    assert deleted_at(sql, "customer", world.bob.id) is None


@pytest.mark.parametrize("user_type", ["customer", "delivery_person", "admin"])
def test_delete_unknown_user_is_404(client, world, user_type):
    response = client.delete(f"/admin/delete-user/{user_type}/424242", headers=world.admin.headers)
    assert_error(response, 404, "user_not_found")


def test_delete_user_twice_is_404(client, world):
    url = f"/admin/delete-user/customer/{world.bob.id}"
    assert client.delete(url, headers=world.admin.headers).status_code == 200
    assert_error(client.delete(url, headers=world.admin.headers), 404)


def test_delete_user_non_numeric_id_is_404_json(client, world):
    assert_error(client.delete("/admin/delete-user/customer/abc", headers=world.admin.headers), 404)


def test_cannot_delete_the_last_admin(client, world, sql):
    url = f"/admin/delete-user/admin/{world.admin.id}"
    assert_error(client.delete(url, headers=world.admin.headers), 409, "last_admin")
    assert deleted_at(sql, "admin", world.admin.id) is None
    assert client.get("/admin/users", headers=world.admin.headers).status_code == 200


def test_admin_can_delete_another_then_not_the_last(client, auth, world, sql):
    other = auth.admin()
    assert (
        client.delete(f"/admin/delete-user/admin/{other.id}", headers=world.admin.headers).status_code == 200
    )
    assert_error(client.get("/admin/users", headers=other.headers), 401)
    url = f"/admin/delete-user/admin/{world.admin.id}"
    assert_error(client.delete(url, headers=world.admin.headers), 409, "last_admin")
    assert count(sql, "admins", "deleted_at IS NULL") == 1


def test_deleting_a_customer_keeps_their_history(client, world, orders, sql):
    delivered = orders.delivered(world.alice, world.admin, world.dave)["order_id"]
    pending = orders.place(world.alice)["order_id"]
    fb = client.post(
        "/customer/feedback",
        json={"order_id": delivered, "feedback": "Great", "rating": 5},
        headers=world.alice.headers,
    )
    assert fb.status_code == 201
    issue = client.post(
        "/raise-issue", json={"message": "Where?", "order_id": pending}, headers=world.alice.headers
    )
    assert issue.status_code == 201
    before = {t: count(sql, t) for t in ("orders", "order_events", "issues", "feedback", "customers")}
    response = client.delete(f"/admin/delete-user/customer/{world.alice.id}", headers=world.admin.headers)
    assert response.status_code == 200
    after = {t: count(sql, t) for t in before}
    assert after == before
    assert count(sql, "orders", "customer_id = %s", (world.alice.id,)) == 2
    assert count(sql, "feedback", "customer_id = %s", (world.alice.id,)) == 1
    assert count(sql, "issues", "user_type = 'customer' AND user_id = %s", (world.alice.id,)) == 1
    # The admin still sees the orders.
    assert {delivered, pending} <= set(admin_order_ids(client, world.admin, customer_id=world.alice.id))


def test_deleting_a_courier_keeps_their_history(client, world, orders, sql):
    delivered = orders.delivered(world.alice, world.admin, world.dave)["order_id"]
    issue = client.post(
        "/raise-issue", json={"message": "Dog", "order_id": delivered}, headers=world.dave.headers
    )
    assert issue.status_code == 201
    before = {t: count(sql, t) for t in ("orders", "order_events", "issues", "delivery_persons")}
    response = client.delete(
        f"/admin/delete-user/delivery_person/{world.dave.id}", headers=world.admin.headers
    )
    assert response.status_code == 200
    assert {t: count(sql, t) for t in before} == before
    assert order_row(sql, delivered)["assigned_to"] == world.dave.id
    assert (
        count(sql, "order_events", "actor_role = 'delivery_person' AND actor_id = %s", (world.dave.id,)) == 3
    )


@pytest.mark.parametrize(
    "status_path", [[], ["Picked Up"], ["Picked Up", "Out for Delivery", "Failed Attempt"]]
)
def test_cannot_delete_courier_with_active_orders(client, auth, world, orders, sql, status_path):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    if status_path:
        orders.move(world.dave, oid, *status_path)
    response = client.delete(
        f"/admin/delete-user/delivery_person/{world.dave.id}", headers=world.admin.headers
    )
    body = assert_error(response, 409, "courier_has_active_orders")
    assert body["order_ids"] == [oid]
    assert deleted_at(sql, "delivery_person", world.dave.id) is None
    assert client.get("/delivery/assigned-orders", headers=world.dave.headers).status_code == 200
    assert auth.login(email=world.dave.login).status_code == 200


def test_courier_deletable_once_orders_are_reassigned(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.assign(world.admin, oid, world.erin, reassign=True)
    response = client.delete(
        f"/admin/delete-user/delivery_person/{world.dave.id}", headers=world.admin.headers
    )
    assert response.status_code == 200
    assert deleted_at(sql, "delivery_person", world.dave.id) is not None


# --------------------------------------------------------------------------------------------
# GET /admin/issues and PATCH /admin/issues
# --------------------------------------------------------------------------------------------


def raise_issue(client, user, **body):
    response = client.post(
        "/raise-issue", json={"message": "Something is wrong", **body}, headers=user.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["issue"]


def test_issues_lists_newest_first(client, world, orders):
    oid = orders.place(world.alice)["order_id"]
    first = raise_issue(client, world.alice, order_id=oid, message="Late parcel")
    second = raise_issue(client, world.dave, message="Van broke down")
    response = client.get("/admin/issues", headers=world.admin.headers)
    assert response.status_code == 200
    issues = response.get_json()["issues"]
    assert [i["issue_id"] for i in issues] == [second["issue_id"], first["issue_id"]]
    assert issues[1]["user_type"] == "customer" and issues[1]["user_id"] == world.alice.id
    assert issues[1]["order_id"] == oid and issues[1]["message"] == "Late parcel"
    assert issues[0]["user_type"] == "delivery_person" and issues[0]["order_id"] is None
    assert all(i["status"] == "Open" and i["response"] is None for i in issues)


def test_issues_empty_list(client, world):
    response = client.get("/admin/issues", headers=world.admin.headers)
    assert response.status_code == 200 and response.get_json()["issues"] == []


def test_issues_status_filter(client, world, sql):
    open_issue = raise_issue(client, world.alice)
    resolved = raise_issue(client, world.bob)
    sql("UPDATE issues SET status = 'Resolved' WHERE issue_id = %s", (resolved["issue_id"],))

    def ids(status):
        response = client.get("/admin/issues", query_string={"status": status}, headers=world.admin.headers)
        assert response.status_code == 200
        return [i["issue_id"] for i in response.get_json()["issues"]]

    assert ids("Open") == [open_issue["issue_id"]]
    assert ids("Resolved") == [resolved["issue_id"]]
    assert ids("In Progress") == [] and ids("Closed") == []


@pytest.mark.parametrize("bad", ["open", "Done", "Resolved "])
def test_issues_bad_status_filter_is_400(client, world, bad):
    response = client.get("/admin/issues", query_string={"status": bad}, headers=world.admin.headers)
    assert "status" in assert_error(response, 400)["fields"]


def patch_issue(client, admin, **body):
    return client.patch("/admin/issues", json=body, headers=admin.headers)


def issue_row(sql, issue_id):
    return sql("SELECT * FROM issues WHERE issue_id = %s", (issue_id,), one=True)


def test_answer_issue_sets_response_and_status(client, world, sql):
    issue = raise_issue(client, world.alice)
    response = patch_issue(
        client, world.admin, issue_id=issue["issue_id"], response="  We are on it  ", status="In Progress"
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "Issue updated successfully"
    answered = body["issue"]
    assert answered["issue_id"] == issue["issue_id"]
    assert answered["response"] == "We are on it" and answered["status"] == "In Progress"
    assert answered["responded_by"] == world.admin.id and answered["responded_at"]
    assert answered["message"] == issue["message"]
    row = issue_row(sql, issue["issue_id"])
    assert row["response"] == "We are on it" and row["status"] == "In Progress"
    assert row["responded_by"] == world.admin.id and row["responded_at"] is not None


def test_answer_issue_only_status(client, world, sql):
    issue = raise_issue(client, world.dave)
    response = patch_issue(client, world.admin, issue_id=issue["issue_id"], status="Closed")
    assert response.status_code == 200
    assert response.get_json()["issue"]["status"] == "Closed"
    row = issue_row(sql, issue["issue_id"])
    assert row["status"] == "Closed" and row["response"] is None and row["responded_by"] is None


def test_answer_issue_only_response_keeps_status(client, world, sql):
    issue = raise_issue(client, world.alice)
    response = patch_issue(client, world.admin, issue_id=issue["issue_id"], response="Sorry!")
    assert response.status_code == 200
    row = issue_row(sql, issue["issue_id"])
    assert row["response"] == "Sorry!" and row["status"] == "Open"
    listed = client.get("/admin/issues", headers=world.admin.headers).get_json()["issues"]
    assert listed[0]["response"] == "Sorry!"


def test_answer_unknown_issue_is_404(client, world, sql):
    assert_error(patch_issue(client, world.admin, issue_id=424242, response="Hi"), 404, "issue_not_found")
    assert count(sql, "issues") == 0


@pytest.mark.parametrize("extra", [{}, {"response": "   "}, {"response": None, "status": None}])
def test_answer_issue_empty_patch_is_400(client, world, sql, extra):
    issue = raise_issue(client, world.alice)
    assert_error(patch_issue(client, world.admin, issue_id=issue["issue_id"], **extra), 400)
    row = issue_row(sql, issue["issue_id"])
    assert row["status"] == "Open" and row["response"] is None


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"status": "Done"}, "status"),
        ({"status": "open"}, "status"),
        ({"status": 1}, "status"),
        ({"response": 42}, "response"),
        ({"response": "x" * 5001}, "response"),
        ({"issue_id": "1", "response": "Hi"}, "issue_id"),
        ({"response": "Hi", "priority": "high"}, "priority"),
    ],
)
def test_answer_issue_invalid_fields_are_400(client, world, sql, extra, field):
    issue = raise_issue(client, world.alice)
    body = {"issue_id": issue["issue_id"], "response": "Fine", **extra}
    result = assert_error(patch_issue(client, world.admin, **body), 400)
    assert field in result["fields"]
    row = issue_row(sql, issue["issue_id"])
    assert row["status"] == "Open" and row["response"] is None


def test_answer_issue_missing_issue_id_is_400(client, world):
    result = assert_error(patch_issue(client, world.admin, response="Hi"), 400)
    assert result["error"] == "Missing required fields" and result["fields"] == {"issue_id": "required"}


def test_answer_issue_non_json_is_400(client, world):
    response = client.patch("/admin/issues", data="issue_id=1", headers=world.admin.headers)
    assert_error(response, 400)
