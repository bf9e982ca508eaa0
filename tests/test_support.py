"""POST /raise-issue: customers and couriers report problems, optionally about an order they own or carry."""

import pytest
from helpers import assert_error, count


def raise_issue(client, user, **body):
    return client.post("/raise-issue", json=body, headers=user.headers)


def issue_row(sql, issue_id):
    return sql("SELECT * FROM issues WHERE issue_id = %s", (issue_id,), one=True)


@pytest.mark.parametrize("who, role", [("alice", "customer"), ("dave", "delivery_person")])
def test_raise_issue_without_order(client, world, sql, who, role):
    user = getattr(world, who)
    response = raise_issue(client, user, message="  The app is slow  ")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["message"] == "Issue raised successfully"
    issue = body["issue"]
    assert issue["user_type"] == role and issue["user_id"] == user.id
    assert issue["order_id"] is None and issue["message"] == "The app is slow"
    assert issue["status"] == "Open" and issue["response"] is None
    row = issue_row(sql, issue["issue_id"])
    assert row["user_type"] == role and row["user_id"] == user.id
    assert row["message"] == "The app is slow" and row["status"] == "Open" and row["order_id"] is None
    assert count(sql, "issues") == 1


def test_customer_raises_issue_about_own_order(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = raise_issue(client, world.alice, message="Where is it?", order_id=oid)
    assert response.status_code == 201
    issue = response.get_json()["issue"]
    assert issue["order_id"] == oid
    assert issue_row(sql, issue["issue_id"])["order_id"] == oid


@pytest.mark.parametrize("path", [[], ["Picked Up", "Out for Delivery", "Delivered"]])
def test_courier_raises_issue_about_carried_order(client, world, orders, sql, path):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    if path:
        orders.move(world.dave, oid, *path)
    response = raise_issue(client, world.dave, message="Gate locked", order_id=oid)
    assert response.status_code == 201, response.get_json()
    issue = response.get_json()["issue"]
    assert issue["order_id"] == oid and issue["user_type"] == "delivery_person"
    assert issue_row(sql, issue["issue_id"])["user_id"] == world.dave.id


def test_courier_who_worked_an_order_can_report_on_it_after_reassignment(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    moved = client.patch(
        "/delivery/update-location", json={"location": "Depot gate"}, headers=world.dave.headers
    )
    assert moved.get_json()["order_ids"] == [oid]
    orders.assign(world.admin, oid, world.erin, reassign=True)
    response = raise_issue(client, world.dave, message="Handed over at the depot", order_id=oid)
    assert response.status_code == 201, response.get_json()
    # A courier who was assigned and reassigned away without touching the order never carried it.
    other = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, other, world.erin)
    orders.assign(world.admin, other, world.dave, reassign=True)
    assert raise_issue(client, world.erin, message="Hm", order_id=other).status_code == 404


def test_issue_shows_up_for_the_admin(client, world):
    issue = raise_issue(client, world.alice, message="Help").get_json()["issue"]
    listed = client.get("/admin/issues", headers=world.admin.headers).get_json()["issues"]
    assert [i["issue_id"] for i in listed] == [issue["issue_id"]]


def test_customer_issue_about_someone_elses_order_is_404(client, world, orders, sql):
    oid = orders.place(world.bob)["order_id"]
    assert_error(raise_issue(client, world.alice, message="Hm", order_id=oid), 404, "order_not_found")
    assert count(sql, "issues") == 0


def test_courier_issue_about_order_not_theirs_is_404(client, world, orders, sql):
    pending = orders.place(world.alice)["order_id"]
    erins = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, erins, world.erin)
    for oid in (pending, erins):
        assert_error(raise_issue(client, world.dave, message="Hm", order_id=oid), 404, "order_not_found")
    assert count(sql, "issues") == 0


@pytest.mark.parametrize("who", ["alice", "dave"])
def test_issue_about_unknown_order_is_404(client, world, sql, who):
    assert_error(raise_issue(client, getattr(world, who), message="Hm", order_id=424242), 404)
    assert count(sql, "issues") == 0


def test_admin_cannot_raise_issues(client, world, sql):
    assert_error(raise_issue(client, world.admin, message="I am the admin"), 403, "wrong_role")
    assert count(sql, "issues") == 0


def test_no_token_is_401(client, sql):
    assert_error(client.post("/raise-issue", json={"message": "Anyone?"}), 401, "missing_token")
    assert_error(
        client.post("/raise-issue", json={"message": "Anyone?"}, headers={"Authorization": "Bearer nope"}),
        401,
    )
    assert count(sql, "issues") == 0


def test_deleted_customer_token_is_401(client, world, sql):
    url = f"/admin/delete-user/customer/{world.alice.id}"
    assert client.delete(url, headers=world.admin.headers).status_code == 200
    assert_error(raise_issue(client, world.alice, message="Still here?"), 401)
    assert count(sql, "issues") == 0


@pytest.mark.parametrize(
    "body", [{}, {"message": ""}, {"message": "   "}, {"message": None}, {"order_id": 1}]
)
def test_missing_message_is_400(client, world, sql, body):
    result = assert_error(raise_issue(client, world.alice, **body), 400, "missing_fields")
    assert result["error"] == "Missing required fields" and result["fields"] == {"message": "required"}
    assert count(sql, "issues") == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"message": 42}, "message"),
        ({"message": ["help"]}, "message"),
        ({"message": "x" * 5001}, "message"),
        ({"message": "Help", "order_id": "1"}, "order_id"),
        ({"message": "Help", "order_id": 0}, "order_id"),
        ({"message": "Help", "status": "Resolved"}, "status"),
        ({"message": "Help", "user_id": 2}, "user_id"),
    ],
)
def test_invalid_fields_are_400(client, world, sql, body, field):
    result = assert_error(raise_issue(client, world.alice, **body), 400)
    assert field in result["fields"]
    assert count(sql, "issues") == 0


@pytest.mark.parametrize(
    "data, content_type",
    [
        ("message=help", "application/x-www-form-urlencoded"),
        ("help", "text/plain"),
        ("[", "application/json"),
    ],
)
def test_non_json_body_is_400(client, world, sql, data, content_type):
    response = client.post("/raise-issue", data=data, content_type=content_type, headers=world.alice.headers)
    assert_error(response, 400)
    assert count(sql, "issues") == 0
