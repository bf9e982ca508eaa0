"""Customer endpoints: placing, listing, tracking and cancelling orders, and feedback."""

import pytest
from helpers import assert_error, count, events, order_row

CUSTOMER_ENDPOINTS = [
    ("post", "/customer/place-order", {"delivery_address": "1 Road", "recipient_name": "Rita"}),
    ("get", "/customer/orders", None),
    ("get", "/customer/track-order/1", None),
    ("post", "/customer/cancel-order/1", None),
    ("post", "/customer/feedback", {"order_id": 1, "feedback": "Nice"}),
]
ORDER = {"delivery_address": "1 Delivery Road", "recipient_name": "Rita Recipient"}


def place(client, customer, body=None, **headers):
    return client.post(
        "/customer/place-order", json=ORDER if body is None else body, headers={**customer.headers, **headers}
    )


# --------------------------------------------------------------------------------------------
# Authentication and roles, for every customer endpoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, url, body", CUSTOMER_ENDPOINTS)
def test_no_token_is_401(client, sql, method, url, body):
    assert_error(getattr(client, method)(url, json=body), 401, "missing_token")
    assert count(sql, "orders") == 0


@pytest.mark.parametrize("method, url, body", CUSTOMER_ENDPOINTS)
def test_malformed_authorization_header_is_401(client, method, url, body):
    for header in ("Bearer", "Token abc", "Bearer a.b.c"):
        assert_error(getattr(client, method)(url, json=body, headers={"Authorization": header}), 401)


@pytest.mark.parametrize("method, url, body", CUSTOMER_ENDPOINTS)
@pytest.mark.parametrize("role", ["admin", "dave"])
def test_admin_and_courier_get_403(client, world, sql, method, url, body, role):
    response = getattr(client, method)(url, json=body, headers=getattr(world, role).headers)
    assert_error(response, 403, "wrong_role")
    assert count(sql, "orders") == 0 and count(sql, "feedback") == 0


# --------------------------------------------------------------------------------------------
# POST /customer/place-order
# --------------------------------------------------------------------------------------------


def test_place_order_shape_and_rows(client, world, sql):
    response = place(client, world.alice)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["message"] == "Order placed successfully"
    order = body["order"]
    assert isinstance(order["order_id"], int)
    assert order["customer_id"] == world.alice.id
    assert order["assigned_to"] is None
    assert order["status"] == "Pending"
    tracking = order["tracking_number"]
    assert isinstance(tracking, str) and tracking.startswith("CT") and len(tracking) >= 12
    assert order["delivery_address"] == ORDER["delivery_address"]
    assert order["recipient_name"] == ORDER["recipient_name"]
    assert "idempotency_key" not in order and "request_hash" not in order
    row = order_row(sql, order["order_id"])
    assert row["customer_id"] == world.alice.id and row["status"] == "Pending" and row["assigned_to"] is None
    assert row["tracking_number"] == tracking and row["closed_at"] is None
    created = events(sql, order["order_id"])
    assert len(created) == 1
    assert created[0]["type"] == "created" and created[0]["status"] == "Pending"
    assert created[0]["actor_role"] == "customer" and created[0]["actor_id"] == world.alice.id


def test_tracking_numbers_are_unique(client, world):
    numbers = {place(client, world.alice).get_json()["order"]["tracking_number"] for _ in range(5)}
    assert len(numbers) == 5


def test_pickup_address_defaults_to_customer_address(client, world, sql):
    address = sql("SELECT address FROM customers WHERE customer_id = %s", (world.alice.id,), one=True)[
        "address"
    ]
    order = place(client, world.alice).get_json()["order"]
    assert order["pickup_address"] == address
    assert order_row(sql, order["order_id"])["pickup_address"] == address
    blank = place(client, world.alice, {**ORDER, "pickup_address": "   "}).get_json()["order"]
    assert blank["pickup_address"] == address


def test_optional_fields_are_stored(client, world, sql):
    body = {
        **ORDER,
        "pickup_address": "9 Pickup Lane",
        "recipient_phone": "+44 20 7946 0958",
        "description": "Fragile: books",
        "weight_kg": 2.5,
    }
    response = place(client, world.alice, body)
    assert response.status_code == 201
    order = response.get_json()["order"]
    assert order["pickup_address"] == "9 Pickup Lane" and order["weight_kg"] == 2.5
    row = order_row(sql, order["order_id"])
    assert row["pickup_address"] == "9 Pickup Lane"
    assert row["recipient_phone"] == "+44 20 7946 0958"
    assert row["description"] == "Fragile: books"
    assert float(row["weight_kg"]) == 2.5


def test_text_fields_are_trimmed(client, world, sql):
    body = {"delivery_address": "  1 Road  ", "recipient_name": " Rita "}
    order = place(client, world.alice, body).get_json()["order"]
    row = order_row(sql, order["order_id"])
    assert row["delivery_address"] == "1 Road" and row["recipient_name"] == "Rita"


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"delivery_address": "required", "recipient_name": "required"}),
        ({"recipient_name": "Rita"}, {"delivery_address": "required"}),
        ({"delivery_address": "1 Road"}, {"recipient_name": "required"}),
        ({"delivery_address": "   ", "recipient_name": "Rita"}, {"delivery_address": "required"}),
        (
            {"delivery_address": None, "recipient_name": ""},
            {"delivery_address": "required", "recipient_name": "required"},
        ),
        ({"weight_kg": 2}, {"delivery_address": "required", "recipient_name": "required"}),
    ],
)
def test_place_order_missing_fields(client, world, sql, body, fields):
    response = place(client, world.alice, body)
    result = assert_error(response, 400, "missing_fields")
    assert result["error"] == "Missing required fields"
    assert result["fields"] == fields
    assert count(sql, "orders") == 0 and count(sql, "order_events") == 0


@pytest.mark.parametrize("weight", [0, -1, -0.5, "5", "heavy", True, [1], 100001])
def test_place_order_bad_weight(client, world, sql, weight):
    result = assert_error(place(client, world.alice, {**ORDER, "weight_kg": weight}), 400)
    assert "weight_kg" in result["fields"]
    assert count(sql, "orders") == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("delivery_address", 12),
        ("delivery_address", "x" * 501),
        ("recipient_name", ["Rita"]),
        ("recipient_phone", "call me"),
        ("description", {"text": "x"}),
        ("pickup_address", 7),
    ],
)
def test_place_order_invalid_field(client, world, sql, field, value):
    result = assert_error(place(client, world.alice, {**ORDER, field: value}), 400)
    assert field in result["fields"]
    assert count(sql, "orders") == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("status", "Delivered"),
        ("customer_id", 2),
        ("assigned_to", 1),
        ("tracking_number", "CT0000000000000000"),
        ("order_id", 99),
    ],
)
def test_place_order_unknown_field_is_400_and_stores_nothing(client, world, sql, field, value):
    result = assert_error(place(client, world.alice, {**ORDER, field: value}), 400, "invalid_fields")
    assert result["fields"] == {field: "unknown field"}
    assert count(sql, "orders") == 0 and count(sql, "order_events") == 0


@pytest.mark.parametrize(
    "data, content_type",
    [
        ("delivery_address=1+Road&recipient_name=Rita", "application/x-www-form-urlencoded"),
        ("just text", "text/plain"),
        ('{"delivery_address": "1 Road",', "application/json"),
        ('["1 Road", "Rita"]', "application/json"),
        ("null", "application/json"),
        ('"a string"', "application/json"),
        ("", "application/json"),
    ],
)
def test_place_order_non_json_body_is_400(client, world, sql, data, content_type):
    response = client.post(
        "/customer/place-order", data=data, content_type=content_type, headers=world.alice.headers
    )
    assert_error(response, 400)
    assert count(sql, "orders") == 0


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_place_order_non_finite_weight_is_400(client, world, sql, value):
    data = '{"delivery_address": "1 Road", "recipient_name": "Rita", "weight_kg": ' + value + "}"
    response = client.post(
        "/customer/place-order", data=data, content_type="application/json", headers=world.alice.headers
    )
    assert_error(response, 400)
    assert count(sql, "orders") == 0


def test_place_order_tiny_weight_is_400_not_a_server_error(client, world, sql):
    # 0.0001 kg rounds to 0.000 in the DECIMAL(10,3) column, which the database refuses.
    result = assert_error(place(client, world.alice, {**ORDER, "weight_kg": 0.0001}), 400)
    assert "weight_kg" in result["fields"]
    assert count(sql, "orders") == 0


def test_idempotency_key_replay_returns_the_same_order(client, world, sql):
    first = place(client, world.alice, **{"Idempotency-Key": "order-abc-1"})
    assert first.status_code == 201
    second = place(client, world.alice, **{"Idempotency-Key": "order-abc-1"})
    assert second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.get_json()["message"] == "Order placed successfully"
    one, two = first.get_json()["order"], second.get_json()["order"]
    assert two["order_id"] == one["order_id"] and two["tracking_number"] == one["tracking_number"]
    assert count(sql, "orders") == 1 and count(sql, "order_events") == 1


def test_idempotency_key_with_a_different_body_is_409(client, world, sql):
    assert place(client, world.alice, **{"Idempotency-Key": "k-1"}).status_code == 201
    other = {**ORDER, "recipient_name": "Someone Else"}
    assert_error(
        place(client, world.alice, other, **{"Idempotency-Key": "k-1"}), 409, "idempotency_key_reused"
    )
    assert count(sql, "orders") == 1
    assert (
        order_row(sql, sql("SELECT MAX(order_id) AS id FROM orders", one=True)["id"])["recipient_name"]
        == (ORDER["recipient_name"])
    )


def test_idempotency_keys_are_per_customer_and_optional(client, world, sql):
    a = place(client, world.alice, **{"Idempotency-Key": "shared"}).get_json()["order"]
    b = place(client, world.bob, **{"Idempotency-Key": "shared"}).get_json()["order"]
    assert a["order_id"] != b["order_id"] and b["customer_id"] == world.bob.id
    place(client, world.alice)
    place(client, world.alice)
    assert count(sql, "orders") == 4


@pytest.mark.parametrize("key", ["   ", "k" * 256])
def test_bad_idempotency_key_is_400(client, world, sql, key):
    assert_error(place(client, world.alice, **{"Idempotency-Key": key}), 400)
    assert count(sql, "orders") == 0


# --------------------------------------------------------------------------------------------
# GET /customer/orders
# --------------------------------------------------------------------------------------------


def test_customer_orders_are_their_own_newest_first(client, world, orders):
    a1 = orders.place(world.alice)["order_id"]
    orders.place(world.bob)
    a2 = orders.place(world.alice)["order_id"]
    response = client.get("/customer/orders", headers=world.alice.headers)
    assert response.status_code == 200
    listed = response.get_json()["orders"]
    assert [o["order_id"] for o in listed] == [a2, a1]
    assert {o["customer_id"] for o in listed} == {world.alice.id}
    bob = client.get("/customer/orders", headers=world.bob.headers).get_json()["orders"]
    assert len(bob) == 1 and bob[0]["customer_id"] == world.bob.id


def test_customer_orders_empty(client, world):
    response = client.get("/customer/orders", headers=world.alice.headers)
    assert response.status_code == 200 and response.get_json()["orders"] == []


def test_customer_orders_status_filter(client, world, orders):
    pending = orders.place(world.alice)["order_id"]
    assigned = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, assigned, world.dave)
    other = orders.place(world.bob)["order_id"]
    orders.assign(world.admin, other, world.dave)

    def ids(status):
        response = client.get(
            "/customer/orders", query_string={"status": status}, headers=world.alice.headers
        )
        assert response.status_code == 200
        return [o["order_id"] for o in response.get_json()["orders"]]

    assert ids("Pending") == [pending]
    assert ids("Assigned") == [assigned]
    assert ids("Delivered") == []


def test_customer_orders_cannot_be_widened_to_another_customer(client, world, orders):
    orders.place(world.bob)
    response = client.get(
        "/customer/orders", query_string={"customer_id": world.bob.id}, headers=world.alice.headers
    )
    assert response.status_code == 200 and response.get_json()["orders"] == []


@pytest.mark.parametrize("query", [{"status": "Lost"}, {"created_from": "soon"}, {"limit": "-1"}])
def test_customer_orders_bad_query_is_400(client, world, query):
    assert_error(client.get("/customer/orders", query_string=query, headers=world.alice.headers), 400)


# --------------------------------------------------------------------------------------------
# GET /customer/track-order/<id>
# --------------------------------------------------------------------------------------------


def test_track_pending_order(client, world, orders):
    order = orders.place(world.alice)
    response = client.get(f"/customer/track-order/{order['order_id']}", headers=world.alice.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["order"]["order_id"] == order["order_id"] and body["order"]["status"] == "Pending"
    assert body["courier"] is None
    assert [e["status"] for e in body["events"]] == ["Pending"]
    event = body["events"][0]
    assert event["actor"]["role"] == "customer" and event["at"].endswith("Z")
    assert {"status", "at", "note", "location", "actor"} <= set(event)


def test_track_order_timeline_oldest_first_with_courier(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up", location="Depot 4", note="Collected")
    orders.move(world.dave, oid, "In Transit")
    response = client.get(f"/customer/track-order/{oid}", headers=world.alice.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["order"]["status"] == "In Transit"
    assert body["courier"]["name"] == world.dave.name
    assert body["courier"]["delivery_person_id"] == world.dave.id
    timeline = body["events"]
    assert [e["status"] for e in timeline] == ["Pending", "Assigned", "Picked Up", "In Transit"]
    assert [e["actor"]["role"] for e in timeline] == [
        "customer",
        "admin",
        "delivery_person",
        "delivery_person",
    ]
    assert timeline[2]["location"] == "Depot 4" and timeline[2]["note"] == "Collected"
    assert timeline[2]["actor"]["name"] == world.dave.name
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    assert len(timeline) == len(events(sql, oid))


def test_track_someone_elses_order_is_404(client, world, orders):
    oid = orders.place(world.bob)["order_id"]
    body = assert_error(
        client.get(f"/customer/track-order/{oid}", headers=world.alice.headers), 404, "order_not_found"
    )
    assert "Rita" not in str(body)


def test_track_unknown_order_is_404(client, world):
    assert_error(
        client.get("/customer/track-order/424242", headers=world.alice.headers), 404, "order_not_found"
    )


def test_track_non_numeric_id_is_404_json(client, world):
    assert_error(client.get("/customer/track-order/abc", headers=world.alice.headers), 404)


# --------------------------------------------------------------------------------------------
# POST /customer/cancel-order/<id>
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("assigned", [False, True])
def test_customer_cancels_before_pickup(client, world, orders, sql, assigned):
    oid = orders.place(world.alice)["order_id"]
    if assigned:
        orders.assign(world.admin, oid, world.dave)
    response = client.post(f"/customer/cancel-order/{oid}", headers=world.alice.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "Order cancelled" and body["order"]["status"] == "Cancelled"
    row = order_row(sql, oid)
    assert row["status"] == "Cancelled" and row["closed_at"] is not None
    last = events(sql, oid)[-1]
    assert last["status"] == "Cancelled" and last["actor_role"] == "customer"
    assert last["actor_id"] == world.alice.id
    if assigned:
        remaining = client.get("/delivery/assigned-orders", headers=world.dave.headers).get_json()["orders"]
        assert remaining == []


def test_customer_cancel_with_reason(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = client.post(
        f"/customer/cancel-order/{oid}", json={"reason": "Changed my mind"}, headers=world.alice.headers
    )
    assert response.status_code == 200
    assert events(sql, oid)[-1]["note"] == "Changed my mind"


@pytest.mark.parametrize(
    "path",
    [
        ["Picked Up"],
        ["Picked Up", "In Transit"],
        ["Picked Up", "Out for Delivery"],
        ["Picked Up", "Out for Delivery", "Failed Attempt"],
        ["Picked Up", "Out for Delivery", "Delivered"],
    ],
)
def test_customer_cannot_cancel_after_pickup(client, world, orders, sql, path):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, *path)
    before = len(events(sql, oid))
    body = assert_error(client.post(f"/customer/cancel-order/{oid}", headers=world.alice.headers), 409)
    assert body["code"] == "illegal_transition"
    assert body["current_status"] == path[-1]
    assert body["allowed"] == []  # nothing a customer may do from here
    assert order_row(sql, oid)["status"] == path[-1]
    assert len(events(sql, oid)) == before


def test_customer_cancel_twice_is_409(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    assert client.post(f"/customer/cancel-order/{oid}", headers=world.alice.headers).status_code == 200
    body = assert_error(client.post(f"/customer/cancel-order/{oid}", headers=world.alice.headers), 409)
    assert body["allowed"] == [] and body["current_status"] == "Cancelled"
    assert len(events(sql, oid)) == 2


def test_customer_cancel_someone_elses_order_is_404(client, world, orders, sql):
    oid = orders.place(world.bob)["order_id"]
    assert_error(
        client.post(f"/customer/cancel-order/{oid}", headers=world.alice.headers), 404, "order_not_found"
    )
    assert order_row(sql, oid)["status"] == "Pending"
    assert len(events(sql, oid)) == 1


def test_customer_cancel_unknown_order_is_404(client, world, sql):
    assert_error(client.post("/customer/cancel-order/424242", headers=world.alice.headers), 404)
    assert count(sql, "order_events") == 0


@pytest.mark.parametrize("body", [{"reason": 1}, {"status": "Cancelled"}, {"reason": "x" * 501}])
def test_customer_cancel_bad_body_is_400(client, world, orders, sql, body):
    oid = orders.place(world.alice)["order_id"]
    assert_error(client.post(f"/customer/cancel-order/{oid}", json=body, headers=world.alice.headers), 400)
    assert order_row(sql, oid)["status"] == "Pending"


# --------------------------------------------------------------------------------------------
# POST /customer/feedback
# --------------------------------------------------------------------------------------------


def feedback(client, customer, **body):
    return client.post("/customer/feedback", json=body, headers=customer.headers)


@pytest.mark.parametrize("rating", [1, 5, None])
def test_feedback_on_delivered_order(client, world, orders, sql, rating):
    oid = orders.delivered(world.alice, world.admin, world.dave)["order_id"]
    body = {"order_id": oid, "feedback": "  Quick and friendly  "}
    if rating is not None:
        body["rating"] = rating
    response = feedback(client, world.alice, **body)
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    assert result["message"] == "Feedback submitted successfully"
    fb = result["feedback"]
    assert fb["order_id"] == oid and fb["customer_id"] == world.alice.id
    assert fb["feedback"] == "Quick and friendly" and fb["rating"] == rating
    row = sql("SELECT * FROM feedback WHERE order_id = %s", (oid,), one=True)
    assert row["feedback_id"] == fb["feedback_id"]
    assert row["customer_id"] == world.alice.id and row["feedback"] == "Quick and friendly"
    assert row["rating"] == rating


@pytest.mark.parametrize(
    "path",
    [
        [],
        ["Picked Up"],
        ["Picked Up", "Out for Delivery"],
        ["Picked Up", "Out for Delivery", "Failed Attempt", "Returned"],
    ],
)
def test_feedback_on_undelivered_order_is_409(client, world, orders, sql, path):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    if path:
        orders.move(world.dave, oid, *path)
    assert_error(feedback(client, world.alice, order_id=oid, feedback="Hm"), 409, "order_not_delivered")
    assert count(sql, "feedback") == 0


def test_feedback_on_pending_and_cancelled_order_is_409(client, world, orders, sql):
    pending = orders.place(world.alice)["order_id"]
    assert_error(feedback(client, world.alice, order_id=pending, feedback="Hm"), 409)
    client.post(f"/customer/cancel-order/{pending}", headers=world.alice.headers)
    assert_error(feedback(client, world.alice, order_id=pending, feedback="Hm"), 409)
    assert count(sql, "feedback") == 0


def test_feedback_only_once(client, world, orders, sql):
    oid = orders.delivered(world.alice, world.admin, world.dave)["order_id"]
    assert feedback(client, world.alice, order_id=oid, feedback="Great", rating=5).status_code == 201
    assert_error(
        feedback(client, world.alice, order_id=oid, feedback="Actually bad", rating=1), 409, "feedback_exists"
    )
    rows = sql("SELECT feedback, rating FROM feedback WHERE order_id = %s", (oid,))
    assert rows == [{"feedback": "Great", "rating": 5}]


@pytest.mark.parametrize("rating", [0, 6, -1, "5", 4.5, True, "five"])
def test_feedback_bad_rating_is_400(client, world, orders, sql, rating):
    oid = orders.delivered(world.alice, world.admin, world.dave)["order_id"]
    result = assert_error(feedback(client, world.alice, order_id=oid, feedback="Ok", rating=rating), 400)
    assert "rating" in result["fields"]
    assert count(sql, "feedback") == 0


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"order_id": "required", "feedback": "required"}),
        ({"order_id": 1}, {"feedback": "required"}),
        ({"order_id": 1, "feedback": "  "}, {"feedback": "required"}),
        ({"feedback": "Nice", "rating": 5}, {"order_id": "required"}),
    ],
)
def test_feedback_missing_fields_is_400(client, world, sql, body, fields):
    result = assert_error(feedback(client, world.alice, **body), 400, "missing_fields")
    assert result["error"] == "Missing required fields" and result["fields"] == fields
    assert count(sql, "feedback") == 0


@pytest.mark.parametrize(
    "override, field",
    [
        ({"order_id": "1"}, "order_id"),
        ({"feedback": 5}, "feedback"),
        ({"stars": 5}, "stars"),
        ({"order_id": 0}, "order_id"),
    ],
)
def test_feedback_invalid_fields_are_400(client, world, orders, sql, override, field):
    oid = orders.delivered(world.alice, world.admin, world.dave)["order_id"]
    result = assert_error(
        feedback(client, world.alice, **{"order_id": oid, "feedback": "Ok", **override}), 400
    )
    assert field in result["fields"]
    assert count(sql, "feedback") == 0


def test_feedback_non_json_is_400(client, world, sql):
    response = client.post("/customer/feedback", data="feedback=nice", headers=world.alice.headers)
    assert_error(response, 400)
    assert count(sql, "feedback") == 0


def test_feedback_on_someone_elses_order_is_404(client, world, orders, sql):
    oid = orders.delivered(world.bob, world.admin, world.dave)["order_id"]
    assert_error(
        feedback(client, world.alice, order_id=oid, feedback="Nice", rating=5), 404, "order_not_found"
    )
    assert count(sql, "feedback") == 0


def test_feedback_on_unknown_order_is_404(client, world, sql):
    assert_error(feedback(client, world.alice, order_id=424242, feedback="Nice"), 404, "order_not_found")
    assert count(sql, "feedback") == 0
