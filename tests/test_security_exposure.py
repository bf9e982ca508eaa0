"""Mass assignment (no body sets protected fields) and data exposure (no hash, admin listings trimmed)."""

import json

import pytest

PROTECTED = {"status": "Delivered", "assigned_to": 1, "customer_id": 1, "tracking_number": "CTFAKE123456"}


def snapshot(sql):
    """Every row a customer's or courier's request could touch."""
    return {
        table: sql(f"SELECT * FROM {table} ORDER BY 1")
        for table in ("orders", "order_events", "issues", "feedback", "customers", "auth_sessions")
    }


@pytest.fixture
def setup(world, orders):
    pending = orders.place(world.alice)
    delivered = orders.delivered(world.alice, world.admin, world.dave)
    assigned = orders.place(world.alice)
    orders.assign(world.admin, assigned["order_id"], world.dave)
    return {"pending": pending, "delivered": delivered, "assigned": assigned}


def customer_requests(setup):
    pending, delivered = setup["pending"]["order_id"], setup["delivered"]["order_id"]
    return [
        ("post", "/customer/place-order", {"delivery_address": "1 Road", "recipient_name": "Kim"}),
        ("post", f"/customer/cancel-order/{pending}", {"reason": "changed my mind"}),
        ("post", "/customer/feedback", {"order_id": delivered, "feedback": "Great", "rating": 5}),
        ("post", "/raise-issue", {"message": "Where is it?", "order_id": pending}),
        ("post", "/change-password", {"old_password": "password123", "new_password": "another-pass"}),
        ("post", "/logout", {}),
    ]


@pytest.mark.parametrize("field", sorted(PROTECTED))
def test_customer_cannot_set_protected_fields_through_any_body(client, world, setup, sql, field):
    for method, path, body in customer_requests(setup):
        before = snapshot(sql)
        response = getattr(client, method)(
            path, json={**body, field: PROTECTED[field]}, headers=world.alice.headers
        )
        assert response.status_code == 400, (path, response.get_json())
        assert response.get_json()["fields"] == {field: "unknown field"}, path
        assert snapshot(sql) == before, path


def test_customer_cannot_sign_up_with_protected_or_role_fields(client, sql):
    body = {"name": "Eve", "email": "eve@example.com", "password": "eve-password", "address": "1 Eve St"}
    for extra in ({"customer_id": 1}, {"role": "admin"}, {"user_type": "admin"}, {"status": "Delivered"}):
        response = client.post("/signup", json={**body, **extra})
        assert response.status_code == 400
        assert sql("SELECT COUNT(*) AS n FROM customers", one=True)["n"] == 0


@pytest.mark.parametrize("field", ["assigned_to", "customer_id", "tracking_number"])
def test_courier_cannot_set_ownership_fields(client, world, setup, sql, field):
    order_id = setup["assigned"]["order_id"]
    for method, path, body in [
        ("patch", "/delivery/update-status", {"order_id": order_id, "status": "Picked Up"}),
        ("patch", "/delivery/update-location", {"order_id": order_id, "location": "Depot"}),
    ]:
        before = snapshot(sql)
        response = getattr(client, method)(
            path, json={**body, field: PROTECTED[field]}, headers=world.dave.headers
        )
        assert response.status_code == 400
        assert snapshot(sql) == before


def test_a_placed_order_gets_its_owner_status_and_tracking_number_from_the_server(client, world, sql):
    response = client.post(
        "/customer/place-order",
        json={"delivery_address": "1 Road", "recipient_name": "Kim"},
        headers=world.alice.headers,
    )
    order = response.get_json()["order"]
    row = sql("SELECT * FROM orders WHERE order_id = %s", (order["order_id"],), one=True)
    assert row["customer_id"] == world.alice.id and row["status"] == "Pending" and row["assigned_to"] is None
    assert row["tracking_number"] == order["tracking_number"] != PROTECTED["tracking_number"]


# --- data exposure -----------------------------------------------------------------------------


def keys_of(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item)


def read(response):
    """The whole body, closing streams (a finished order's stream ends by itself)."""
    text = response.get_data(as_text=True)
    response.close()
    return text


def test_no_response_contains_a_password_hash(client, world, setup, orders, sql):
    admin, alice, dave = world.admin, world.alice, world.dave
    delivered = setup["delivered"]
    tn = delivered["tracking_number"]
    seen = []

    def call(method, path, user=None, headers=None, **kwargs):
        headers = user.headers if user else headers or {}
        response = getattr(client, method)(path, headers=headers, **kwargs)
        seen.append((method, path, response.status_code, response.mimetype, read(response)))
        return response

    signup = {"name": "New", "email": "new@example.com", "password": "new-password", "address": "1 St"}
    call("post", "/signup", json=signup)
    call("post", "/signup", json=signup)  # 409
    call("post", "/login", json={"email": "new@example.com", "password": "new-password"})
    call("post", "/login", json={"email": "new@example.com", "password": "bad-password"})
    call("post", "/refresh", headers={"Authorization": f"Bearer {dave.refresh_token}"})
    call(
        "post",
        "/register",
        admin,
        json={
            "user_type": "delivery_person",
            "name": "Cy",
            "email": "cy@example.com",
            "password": "cy-password",
        },
    )
    call(
        "post",
        "/register",
        admin,
        json={"user_type": "admin", "username": "ops2", "password": "ops-password"},
    )
    for query in ("", "?type=customer", "?type=delivery_person", "?type=admin", "?limit=100"):
        call("get", f"/admin/users{query}", admin)
    call("get", "/admin/orders?limit=100", admin)
    order = orders.place(alice)
    call(
        "post",
        "/admin/assign-delivery",
        admin,
        json={"order_id": order["order_id"], "delivery_person_id": dave.id},
    )
    issue = call("post", "/raise-issue", alice, json={"message": "Help", "order_id": order["order_id"]})
    call(
        "patch",
        "/admin/issues",
        admin,
        json={"issue_id": issue.get_json()["issue"]["issue_id"], "response": "OK"},
    )
    call("get", "/admin/issues", admin)
    call("get", "/customer/orders", alice)
    call("get", f"/customer/track-order/{delivered['order_id']}", alice)
    call("get", f"/customer/track-order/{delivered['order_id']}/events", alice)
    call("post", "/customer/feedback", alice, json={"order_id": delivered["order_id"], "feedback": "Good"})
    call("post", f"/customer/cancel-order/{setup['pending']['order_id']}", alice)
    call("get", "/delivery/assigned-orders", dave)
    call(
        "patch", "/delivery/update-status", dave, json={"order_id": order["order_id"], "status": "Picked Up"}
    )
    call("patch", "/delivery/update-location", dave, json={"latitude": 1.5, "longitude": 2.5})
    call("get", "/delivery/history", dave)
    call("get", f"/track/{tn}")
    call("get", f"/track/{tn}/events")
    call("get", "/openapi.json")
    call(
        "post", "/change-password", alice, json={"old_password": "password123", "new_password": "newer-pass1"}
    )
    call("delete", f"/admin/delete-user/customer/{world.bob.id}", admin)
    call("post", "/logout", dave)
    assert len(seen) >= 30
    assert all(status < 500 for _, _, status, _, _ in seen), [s[:3] for s in seen if s[2] >= 500]
    for method, path, status, mimetype, text in seen:
        assert "$2b$" not in text and "$2a$" not in text, (method, path)
        if mimetype == "application/json" and 200 <= status < 300 and path != "/openapi.json":
            keys = set(keys_of(json.loads(text)))
            assert not {k for k in keys if "password" in k.lower()}, (method, path, keys)
    # The hashes exist, so the walk above would have found them had any leaked.
    assert sql("SELECT COUNT(*) AS n FROM customers WHERE password LIKE '$2b$%%'", one=True)["n"] >= 3


def test_admin_user_listing_shows_only_what_an_admin_needs(client, world):
    response = client.get("/admin/users?limit=100", headers=world.admin.headers)
    assert response.status_code == 200
    expected = {
        "customer": {"id", "user_type", "name", "email", "phone", "address", "created_at"},
        "delivery_person": {"id", "user_type", "name", "email", "phone", "created_at"},
        "admin": {"id", "user_type", "username", "created_at"},
    }
    users = response.get_json()["users"]
    assert {u["user_type"] for u in users} == set(expected)
    for user in users:
        assert set(user) == expected[user["user_type"]], user
