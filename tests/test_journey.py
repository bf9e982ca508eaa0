"""The whole journey of the original description, through the API only, and its example shapes."""


def test_full_journey(client, auth, sql):
    # A customer signs up and logs in.
    signup = client.post(
        "/signup",
        json={"name": "Jo", "email": "jo@example.com", "password": "jo-password", "address": "1 Jo Lane"},
    )
    assert signup.status_code == 201
    login = client.post("/login", json={"email": "jo@example.com", "password": "jo-password"})
    assert set(login.get_json()) >= {"message", "token", "role", "id"}
    jo = {"Authorization": f"Bearer {login.get_json()['token']}"}

    # The customer places an order: the original example's keys, plus a tracking number.
    placed = client.post(
        "/customer/place-order",
        json={"delivery_address": "9 Far Road", "recipient_name": "Kim", "weight_kg": 1.5},
        headers=jo,
    )
    assert placed.status_code == 201
    body = placed.get_json()
    assert body["message"] == "Order placed successfully"
    order = body["order"]
    assert {k: order[k] for k in ("customer_id", "assigned_to", "status")} == {
        "customer_id": login.get_json()["id"],
        "assigned_to": None,
        "status": "Pending",
    }
    assert isinstance(order["order_id"], int) and order["tracking_number"]
    order_id = order["order_id"]

    # An admin registers a courier and assigns the order.
    admin = auth.admin()
    registered = client.post(
        "/register",
        json={
            "user_type": "delivery_person",
            "name": "Cy",
            "email": "cy@example.com",
            "password": "cy-password",
        },
        headers=admin.headers,
    )
    courier_id = registered.get_json()["user"]["id"]
    assigned = client.post(
        "/admin/assign-delivery",
        json={"order_id": order_id, "delivery_person_id": courier_id},
        headers=admin.headers,
    )
    assert assigned.status_code == 200
    assert assigned.get_json()["order"]["assigned_to"] == courier_id

    # The courier sees it and carries it through to Delivered.
    cy_login = client.post("/login", json={"email": "cy@example.com", "password": "cy-password"})
    cy = {"Authorization": f"Bearer {cy_login.get_json()['token']}"}
    assigned_orders = client.get("/delivery/assigned-orders", headers=cy).get_json()["orders"]
    assert [o["order_id"] for o in assigned_orders] == [order_id]
    for status in ("Picked Up", "In Transit", "Out for Delivery"):
        response = client.patch(
            "/delivery/update-status", json={"order_id": order_id, "status": status}, headers=cy
        )
        assert response.status_code == 200, response.get_json()
    moved = client.patch(
        "/delivery/update-location",
        json={"latitude": 51.5, "longitude": -0.12, "location": "High St"},
        headers=cy,
    )
    assert moved.get_json()["order_ids"] == [order_id]
    # At the door the customer shows the proof-of-delivery code, which the courier sends.
    code = client.get(f"/customer/orders/{order_id}/delivery-code", headers=jo).get_json()["code"]
    delivered = client.patch(
        "/delivery/update-status",
        json={"order_id": order_id, "status": "Delivered", "note": "At door", "code": code},
        headers=cy,
    )
    assert delivered.get_json()["order"]["status"] == "Delivered"
    assert client.get("/delivery/assigned-orders", headers=cy).get_json()["orders"] == []
    assert [o["order_id"] for o in client.get("/delivery/history", headers=cy).get_json()["orders"]] == [
        order_id
    ]

    # The customer tracks it: the whole timeline, oldest first.
    tracked = client.get(f"/customer/track-order/{order_id}", headers=jo).get_json()
    assert tracked["order"]["status"] == "Delivered"
    statuses = [e["status"] for e in tracked["events"] if e["type"] != "location"]
    assert statuses == ["Pending", "Assigned", "Picked Up", "In Transit", "Out for Delivery", "Delivered"]
    assert tracked["courier"]["name"] == "Cy"

    # Feedback, then an issue that an admin answers.
    feedback = client.post(
        "/customer/feedback", json={"order_id": order_id, "feedback": "Great", "rating": 5}, headers=jo
    )
    assert feedback.status_code == 201
    issue = client.post("/raise-issue", json={"message": "Box was dented", "order_id": order_id}, headers=jo)
    assert issue.status_code == 201
    issue_id = issue.get_json()["issue"]["issue_id"]
    listed = client.get("/admin/issues?status=Open", headers=admin.headers).get_json()["issues"]
    assert [i["issue_id"] for i in listed] == [issue_id]
    answered = client.patch(
        "/admin/issues",
        json={"issue_id": issue_id, "response": "Sorry, refund issued", "status": "Resolved"},
        headers=admin.headers,
    )
    assert answered.status_code == 200
    assert answered.get_json()["issue"]["response"] == "Sorry, refund issued"
    row = sql("SELECT status, response, responded_by FROM issues WHERE issue_id = %s", (issue_id,), one=True)
    assert row == {"status": "Resolved", "response": "Sorry, refund issued", "responded_by": admin.id}
    assert sql("SELECT COUNT(*) AS n FROM order_events WHERE order_id = %s", (order_id,), one=True)["n"] == 7


def test_missing_fields_example_shape(client, auth):
    response = client.post("/customer/place-order", json={}, headers=auth.customer().headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Missing required fields"
    assert body["fields"] == {"delivery_address": "required", "recipient_name": "required"}
