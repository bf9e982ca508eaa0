"""The transactional outbox: notifications commit with their event or not at all; issue answers; preferences."""

import json
from types import SimpleNamespace

import pytest
from helpers import assert_error, count, events, order_row
from smtp_sink import assert_schema, drain, parts, smtp_server, use_smtp

from courier import lifecycle, mailer, notifications
from courier.db import transaction


@pytest.fixture
def smtp(app):
    with smtp_server() as (sink, port):
        use_smtp(app, port)
        yield sink


@pytest.fixture
def email_on(app):
    """Emails are queued (nothing is drained, so no server is needed)."""
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)


def test_notification_row_commits_with_its_event(app, world, orders, email_on, sql):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    event = events(sql, order["order_id"], "assignment")[0]
    row = sql("SELECT * FROM notifications", one=True)
    assert row["order_event_id"] == event["event_id"] and row["order_id"] == order["order_id"]
    assert (row["channel"], row["event_type"], row["status"], row["attempts"]) == (
        "email",
        "order.assigned",
        "pending",
        0,
    )
    assert row["recipient"] == world.alice.login and len(row["event_id"]) == 32
    assert row["max_attempts"] == app.config["NOTIFY_MAX_ATTEMPTS"] and row["give_up_at"] is None
    assert row["due_at"] is not None and row["due_at"] <= sql("SELECT UTC_TIMESTAMP(6) AS t", one=True)["t"]
    payload = json.loads(row["payload"])
    assert set(payload) == {"to", "subject", "text", "html", "message_id"}
    assert order["tracking_number"] in payload["text"] and "Assigned" in payload["html"]


def test_illegal_move_queues_nothing(client, world, orders, email_on, sql):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    before = (count(sql, "order_events"), count(sql, "notifications"))
    response = client.patch(
        "/delivery/update-status",
        json={"order_id": order["order_id"], "status": "Returned"},
        headers=world.dave.headers,
    )
    assert_error(response, 409, "illegal_transition")
    assert (count(sql, "order_events"), count(sql, "notifications")) == before == (2, 1)


def test_rolled_back_transaction_leaves_neither(app, world, orders, email_on, sql):
    order = orders.place(world.alice)
    admin = SimpleNamespace(role="admin", id=world.admin.id)
    with app.app_context(), pytest.raises(RuntimeError), transaction():
        lifecycle.assign(order["order_id"], world.dave.id, False, admin)
        assert count(sql, "notifications") == 0  # not visible to others before the commit
        raise RuntimeError("the request dies before it commits")
    assert order_row(sql, order["order_id"])["status"] == "Pending"
    assert len(events(sql, order["order_id"])) == 1 and count(sql, "notifications") == 0


def test_failure_while_queueing_rolls_back_the_event(app, client, world, orders, email_on, sql, monkeypatch):
    """A crash between the event and its notification can invent nothing: the status change is undone too."""
    order = orders.place(world.alice)

    def broken(*args, **kwargs):
        raise RuntimeError("template blew up")

    monkeypatch.setattr(mailer, "order_email", broken)
    response = client.post(
        "/admin/assign-delivery",
        json={"order_id": order["order_id"], "delivery_person_id": world.dave.id},
        headers=world.admin.headers,
    )
    assert_error(response, 500, "internal_error")
    assert order_row(sql, order["order_id"])["status"] == "Pending"
    assert len(events(sql, order["order_id"])) == 1 and count(sql, "notifications") == 0
    monkeypatch.undo()
    orders.assign(world.admin, order["order_id"], world.dave)  # and it works again
    assert count(sql, "notifications") == 1


def test_location_updates_queue_nothing(client, world, orders, email_on, sql):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up")
    before = count(sql, "notifications")
    response = client.patch(
        "/delivery/update-location",
        json={"order_id": order["order_id"], "latitude": 51.5, "longitude": -0.12},
        headers=world.dave.headers,
    )
    assert response.status_code == 200, response.get_json()
    assert count(sql, "notifications") == before == 2


def test_event_types():
    mapping = notifications.event_type_of
    assert mapping("created", "Pending") == "order.created"
    assert mapping("assignment", "Assigned") == "order.assigned"
    assert mapping("locked", "Out for Delivery") == "order.delivery_locked"
    expected = {"Picked Up": "order.picked_up", "In Transit": "order.in_transit",
                "Out for Delivery": "order.out_for_delivery", "Delivered": "order.delivered",
                "Failed Attempt": "order.failed_attempt", "Returned": "order.returned",
                "Cancelled": "order.cancelled"}  # fmt: skip
    for status, event_type in expected.items():
        assert mapping("status", status) == event_type
    assert mapping("location", "Picked Up") is None and mapping("unlocked", "Out for Delivery") is None


def test_webhooks_and_email_of_one_event_share_its_event_id(app, client, world, orders, email_on, sql):
    response = client.post(
        "/admin/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["order.created", "order.assigned"]},
        headers=world.admin.headers,
    )
    assert response.status_code == 201, response.get_json()
    webhook_id = response.get_json()["webhook"]["webhook_id"]
    order = orders.place(world.alice)
    created = sql("SELECT * FROM notifications", one=True)
    assert (created["channel"], created["event_type"], created["webhook_id"]) == (
        "webhook",
        "order.created",
        webhook_id,
    )
    assert created["recipient"] == "http://127.0.0.1:9/hook" and created["max_attempts"] is None
    assert created["give_up_at"] is not None
    orders.assign(world.admin, order["order_id"], world.dave)
    assigned = sql("SELECT * FROM notifications WHERE event_type = 'order.assigned' ORDER BY channel")
    assert [row["channel"] for row in assigned] == ["email", "webhook"]
    assert assigned[0]["event_id"] == assigned[1]["event_id"] != created["event_id"]
    body = json.loads(assigned[1]["payload"])
    assert (
        body["event_id"] == assigned[1]["event_id"]
        and body["order"]["tracking_number"] == order["tracking_number"]
    )
    assert world.alice.login not in assigned[1]["payload"]  # the customer's address is not in the webhook


def raise_issue(client, user, order_id=None):
    body = {"message": "Where is my <parcel>?", **({"order_id": order_id} if order_id else {})}
    response = client.post("/raise-issue", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["issue"]["issue_id"]


def answer(client, admin, issue_id, **body):
    return client.patch("/admin/issues", json={"issue_id": issue_id, **body}, headers=admin.headers)


def test_issue_answer_emails_the_customer(app, client, world, orders, smtp, sql):
    order = orders.place(world.alice)
    issue_id = raise_issue(client, world.alice, order["order_id"])
    response = answer(
        client, world.admin, issue_id, response="It is on its way & <b>safe</b>.", status="Resolved"
    )
    assert response.status_code == 200
    row = sql("SELECT * FROM notifications", one=True)
    assert (row["event_type"], row["issue_id"], row["order_id"]) == (
        "issue.answered",
        issue_id,
        order["order_id"],
    )
    assert drain(app) == 1
    message = smtp.messages[0]
    assert (
        message["To"] == world.alice.login
        and message["Subject"] == f"Your issue #{issue_id} has been answered"
    )
    text, html = parts(message)
    assert "It is on its way & <b>safe</b>." in text and "Where is my <parcel>?" in text
    assert "It is on its way &amp; &lt;b&gt;safe&lt;/b&gt;." in html and "Resolved" in html
    assert order["tracking_number"] in text and f"/t/{order['tracking_number']}" in html


def test_issue_answer_emails_a_courier(app, client, world, smtp, sql):
    issue_id = raise_issue(client, world.dave)
    assert answer(client, world.admin, issue_id, response="Use the back door").status_code == 200
    drain(app)
    assert [message["To"] for message in smtp.messages] == [world.dave.login]
    assert "Use the back door" in parts(smtp.messages[0])[0]


def test_issue_status_only_or_email_off_queues_nothing(client, world, email_on, sql):
    issue_id = raise_issue(client, world.alice)
    assert answer(client, world.admin, issue_id, status="In Progress").status_code == 200
    assert count(sql, "notifications") == 0
    client.patch("/customer/preferences", json={"email": False}, headers=world.alice.headers)
    assert answer(client, world.admin, issue_id, response="Done").status_code == 200
    assert count(sql, "notifications") == 0
    assert_error(answer(client, world.admin, 999, response="Nobody"), 404)
    assert count(sql, "notifications") == 0


def prefs(sql, customer_id):
    row = sql(
        "SELECT notify_email, notify_sms FROM customers WHERE customer_id = %s", (customer_id,), one=True
    )
    return row["notify_email"], row["notify_sms"]


def test_preferences_read_and_update(client, world, sql):
    response = client.get("/customer/preferences", headers=world.alice.headers)
    assert response.status_code == 200 and response.get_json() == {
        "preferences": {"email": True, "sms": True, "arriving_soon": False}
    }
    assert_schema(response.get_json(), "Preferences")

    response = client.patch("/customer/preferences", json={"email": False}, headers=world.alice.headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "message": "Preferences updated",
        "preferences": {"email": False, "sms": True, "arriving_soon": False},
    }
    assert_schema(response.get_json(), "Preferences")
    assert prefs(sql, world.alice.id) == (0, 1)
    response = client.patch("/customer/preferences", json={"sms": False}, headers=world.alice.headers)
    assert response.get_json()["preferences"] == {"email": False, "sms": False, "arriving_soon": False}
    response = client.patch(
        "/customer/preferences", json={"email": True, "sms": True}, headers=world.alice.headers
    )
    assert response.get_json()["preferences"] == {"email": True, "sms": True, "arriving_soon": False}
    assert prefs(sql, world.alice.id) == (1, 1)
    client.patch("/customer/preferences", json={"sms": False}, headers=world.alice.headers)
    assert prefs(sql, world.bob.id) == (1, 1)  # only the caller's account changes
    assert client.get("/customer/preferences", headers=world.bob.headers).get_json()["preferences"] == {
        "email": True,
        "sms": True,
        "arriving_soon": False,
    }


def test_preferences_reject_bad_input_and_change_nothing(client, world, sql):
    headers = world.alice.headers
    body = assert_error(
        client.patch("/customer/preferences", json={}, headers=headers), 400, "missing_fields"
    )
    assert set(body["fields"]) == {"email", "sms"}
    for bad in ({"email": "no"}, {"sms": 0}, {"email": None}, {"push": True}, [True]):
        body = assert_error(client.patch("/customer/preferences", json=bad, headers=headers), 400)
    response = client.patch("/customer/preferences", data="email=false", headers=headers)
    assert response.status_code in (400, 415)
    assert prefs(sql, world.alice.id) == (1, 1)


def test_preferences_need_a_customer(client, world):
    for method in ("GET", "PATCH"):
        assert_error(client.open("/customer/preferences", method=method, json={"email": False}), 401)
        for user in (world.admin, world.dave):
            response = client.open(
                "/customer/preferences", method=method, json={"email": False}, headers=user.headers
            )
            assert_error(response, 403, "wrong_role")
