"""Delivery-person endpoints: assigned orders, the status lifecycle, location updates and history."""

import pytest
from helpers import assert_error, count, events, order_row

from courier.vocabulary import STATUSES

FINAL = {"Delivered", "Returned", "Cancelled"}

# The product's transition table (README, Order statuses), the courier's rows only, written out here on
# purpose: from -> the statuses the courier may move to.
COURIER_MOVES = {
    "Assigned": ["Picked Up"],
    "Picked Up": ["In Transit", "Out for Delivery"],
    "In Transit": ["Out for Delivery"],
    "Out for Delivery": ["Delivered", "Failed Attempt"],
    "Failed Attempt": ["Out for Delivery", "Returned"],
    "Delivered": [],
    "Returned": [],
    "Cancelled": [],
}
LEGAL = [(frm, to) for frm, targets in COURIER_MOVES.items() for to in targets]
# How the assigned courier gets an order from Assigned to each status.
PATHS = {
    "Assigned": [],
    "Picked Up": ["Picked Up"],
    "In Transit": ["Picked Up", "In Transit"],
    "Out for Delivery": ["Picked Up", "Out for Delivery"],
    "Failed Attempt": ["Picked Up", "Out for Delivery", "Failed Attempt"],
    "Delivered": ["Picked Up", "Out for Delivery", "Delivered"],
    "Returned": ["Picked Up", "Out for Delivery", "Failed Attempt", "Returned"],
}

DELIVERY_ENDPOINTS = [
    ("get", "/delivery/assigned-orders", None),
    ("patch", "/delivery/update-status", {"order_id": 1, "status": "Picked Up"}),
    ("patch", "/delivery/update-location", {"latitude": 1.0, "longitude": 2.0}),
    ("get", "/delivery/history", None),
]


def order_in(client, world, orders, status, customer=None, courier=None):
    """A new order of `customer` (Alice), assigned to `courier` (Dave) and brought to `status`."""
    customer, courier = customer or world.alice, courier or world.dave
    oid = orders.place(customer)["order_id"]
    if status == "Pending":
        return oid
    orders.assign(world.admin, oid, courier)
    if status == "Cancelled":
        assert client.post(f"/admin/cancel-order/{oid}", headers=world.admin.headers).status_code == 200
    elif PATHS[status]:
        orders.move(courier, oid, *PATHS[status])
    return oid


def update_status(client, courier, **body):
    return client.patch("/delivery/update-status", json=body, headers=courier.headers)


def update_location(client, courier, **body):
    return client.patch("/delivery/update-location", json=body, headers=courier.headers)


# --------------------------------------------------------------------------------------------
# Authentication and roles, for every delivery endpoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, url, body", DELIVERY_ENDPOINTS)
def test_no_token_is_401(client, sql, method, url, body):
    assert_error(getattr(client, method)(url, json=body), 401, "missing_token")
    assert count(sql, "courier_positions") == 0


@pytest.mark.parametrize("method, url, body", DELIVERY_ENDPOINTS)
def test_bad_token_is_401(client, method, url, body):
    assert_error(getattr(client, method)(url, json=body, headers={"Authorization": "Bearer x.y.z"}), 401)


@pytest.mark.parametrize("method, url, body", DELIVERY_ENDPOINTS)
@pytest.mark.parametrize("role", ["admin", "alice"])
def test_admin_and_customer_get_403(client, world, orders, sql, method, url, body, role):
    oid = order_in(client, world, orders, "Assigned")
    if body and "order_id" in body:
        body = {**body, "order_id": oid}
    response = getattr(client, method)(url, json=body, headers=getattr(world, role).headers)
    assert_error(response, 403, "wrong_role")
    assert order_row(sql, oid)["status"] == "Assigned"
    assert count(sql, "courier_positions") == 0 and count(sql, "order_events", "type = 'location'") == 0


# --------------------------------------------------------------------------------------------
# GET /delivery/assigned-orders
# --------------------------------------------------------------------------------------------


def test_assigned_orders_are_only_own_active_ones(client, world, orders):
    first = order_in(client, world, orders, "Assigned")
    order_in(client, world, orders, "Pending")
    order_in(client, world, orders, "Assigned", courier=world.erin)
    failed = order_in(client, world, orders, "Failed Attempt", customer=world.bob)
    order_in(client, world, orders, "Delivered")
    order_in(client, world, orders, "Cancelled")
    transit = order_in(client, world, orders, "In Transit")
    response = client.get("/delivery/assigned-orders", headers=world.dave.headers)
    assert response.status_code == 200
    listed = response.get_json()["orders"]
    assert [o["order_id"] for o in listed] == [first, failed, transit]  # oldest first
    assert {o["assigned_to"] for o in listed} == {world.dave.id}
    assert [o["status"] for o in listed] == ["Assigned", "Failed Attempt", "In Transit"]
    assert {"delivery_address", "recipient_name", "tracking_number"} <= set(listed[0])
    erin = client.get("/delivery/assigned-orders", headers=world.erin.headers).get_json()["orders"]
    assert len(erin) == 1 and erin[0]["assigned_to"] == world.erin.id


def test_assigned_orders_empty(client, world, orders):
    orders.place(world.alice)
    response = client.get("/delivery/assigned-orders", headers=world.dave.headers)
    assert response.status_code == 200
    assert response.get_json()["orders"] == [] and response.get_json()["next_cursor"] is None


def test_assigned_orders_page(client, world, orders):
    ids = [order_in(client, world, orders, "Assigned") for _ in range(3)]
    first = client.get(
        "/delivery/assigned-orders", query_string={"limit": 2}, headers=world.dave.headers
    ).get_json()
    assert [o["order_id"] for o in first["orders"]] == ids[:2]
    second = client.get(
        "/delivery/assigned-orders",
        query_string={"limit": 2, "cursor": first["next_cursor"]},
        headers=world.dave.headers,
    ).get_json()
    assert [o["order_id"] for o in second["orders"]] == ids[2:] and second["next_cursor"] is None


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "x"}, {"cursor": "nope"}, {"sort": "-order_id"}])
def test_assigned_orders_bad_query_is_400(client, world, query):
    assert_error(client.get("/delivery/assigned-orders", query_string=query, headers=world.dave.headers), 400)


# --------------------------------------------------------------------------------------------
# PATCH /delivery/update-status
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("frm, to", LEGAL)
def test_every_legal_move_succeeds_with_one_event(client, world, orders, sql, frm, to):
    oid = order_in(client, world, orders, frm)
    before = events(sql, oid)
    body = {"order_id": oid, "status": to}
    if to == "Failed Attempt":
        body["reason"] = "address_not_found"
    if to == "Delivered":
        body["code"] = orders.code(oid)
    response = update_status(client, world.dave, **body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["message"] == "Status updated successfully"
    assert result["order"]["order_id"] == oid and result["order"]["status"] == to
    row = order_row(sql, oid)
    assert row["status"] == to and row["assigned_to"] == world.dave.id
    assert (row["closed_at"] is not None) == (to in FINAL)
    after = events(sql, oid)
    assert len(after) == len(before) + 1
    event = after[-1]
    assert event["type"] == "status" and event["status"] == to
    assert event["actor_role"] == "delivery_person" and event["actor_id"] == world.dave.id
    assert event["actor_name"] == world.dave.name
    assert event["reason"] == ("address_not_found" if to == "Failed Attempt" else None)


@pytest.mark.parametrize("frm", list(COURIER_MOVES))
def test_every_illegal_move_is_409_and_changes_nothing(client, world, orders, sql, frm):
    oid = order_in(client, world, orders, frm)
    before_row, before_events = order_row(sql, oid), events(sql, oid)
    illegal = [to for to in STATUSES if to not in COURIER_MOVES[frm]]
    assert illegal
    for to in illegal:
        body = {"order_id": oid, "status": to}
        if to == "Failed Attempt":
            body["reason"] = "refused"
        if to == "Delivered":
            body["code"] = "0000000000"  # a body the schema accepts: the move itself is what is illegal
        result = assert_error(update_status(client, world.dave, **body), 409, "illegal_transition")
        assert result["allowed"] == COURIER_MOVES[frm], to
        assert result["current_status"] == frm
        if frm in FINAL:
            assert "final" in result["error"]
    assert order_row(sql, oid) == before_row
    assert events(sql, oid) == before_events


def test_full_delivery_with_a_retry(client, world, orders, sql):
    oid = order_in(client, world, orders, "Assigned")
    steps = ["Picked Up", "In Transit", "Out for Delivery", "Failed Attempt", "Out for Delivery", "Delivered"]
    orders.move(world.dave, oid, *steps)
    statuses = [e["status"] for e in events(sql, oid) if e["type"] == "status"]
    assert statuses == steps
    assert order_row(sql, oid)["status"] == "Delivered"


def test_note_and_location_are_recorded(client, world, orders, sql):
    oid = order_in(client, world, orders, "Assigned")
    response = update_status(
        client, world.dave, order_id=oid, status="Picked Up", note="  Two boxes ", location=" Depot 4 "
    )
    assert response.status_code == 200
    assert response.get_json()["order"]["location"] == "Depot 4"
    event = events(sql, oid)[-1]
    assert event["note"] == "Two boxes" and event["location"] == "Depot 4"
    assert order_row(sql, oid)["location"] == "Depot 4"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_failed_attempt_without_reason_is_400(client, world, orders, sql, reason):
    oid = order_in(client, world, orders, "Out for Delivery")
    before = len(events(sql, oid))
    body = {"order_id": oid, "status": "Failed Attempt"}
    if reason is not None:
        body["reason"] = reason
    result = assert_error(update_status(client, world.dave, **body), 400)
    assert "reason" in result["fields"]
    assert order_row(sql, oid)["status"] == "Out for Delivery"
    assert len(events(sql, oid)) == before


@pytest.mark.parametrize("reason", ["lost", "Refused", 3, ["refused"]])
def test_failed_attempt_bad_reason_is_400(client, world, orders, sql, reason):
    oid = order_in(client, world, orders, "Out for Delivery")
    result = assert_error(
        update_status(client, world.dave, order_id=oid, status="Failed Attempt", reason=reason), 400
    )
    assert "reason" in result["fields"]
    assert order_row(sql, oid)["status"] == "Out for Delivery"


@pytest.mark.parametrize(
    "reason", ["recipient_unavailable", "address_not_found", "refused", "damaged", "other"]
)
def test_failed_attempt_every_reason(client, world, orders, sql, reason):
    oid = order_in(client, world, orders, "Out for Delivery")
    response = update_status(client, world.dave, order_id=oid, status="Failed Attempt", reason=reason)
    assert response.status_code == 200
    assert events(sql, oid)[-1]["reason"] == reason


@pytest.mark.parametrize("status", ["Lost", "delivered", "DELIVERED", "Picked up", "", 5, None])
def test_unknown_status_is_400(client, world, orders, sql, status):
    oid = order_in(client, world, orders, "Assigned")
    result = assert_error(update_status(client, world.dave, order_id=oid, status=status), 400)
    assert "status" in result["fields"]
    assert order_row(sql, oid)["status"] == "Assigned"
    assert len(events(sql, oid)) == 2


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"order_id": "required", "status": "required"}),
        ({"status": "Picked Up"}, {"order_id": "required"}),
    ],
)
def test_update_status_missing_fields_is_400(client, world, body, fields):
    result = assert_error(update_status(client, world.dave, **body), 400, "missing_fields")
    assert result["error"] == "Missing required fields" and result["fields"] == fields


@pytest.mark.parametrize(
    "override, field",
    [
        ({"order_id": "1"}, "order_id"),
        ({"order_id": 1.5}, "order_id"),
        ({"order_id": -1}, "order_id"),
        ({"note": 7}, "note"),
        ({"location": "x" * 256}, "location"),
        ({"assigned_to": 2}, "assigned_to"),
    ],
)
def test_update_status_invalid_fields_are_400(client, world, orders, sql, override, field):
    oid = order_in(client, world, orders, "Assigned")
    body = {"order_id": oid, "status": "Picked Up", **override}
    result = assert_error(update_status(client, world.dave, **body), 400)
    assert field in result["fields"]
    assert order_row(sql, oid)["status"] == "Assigned"


def test_update_status_non_json_is_400(client, world, orders, sql):
    oid = order_in(client, world, orders, "Assigned")
    response = client.patch(
        "/delivery/update-status", data=f"order_id={oid}&status=Picked+Up", headers=world.dave.headers
    )
    assert_error(response, 400)
    assert order_row(sql, oid)["status"] == "Assigned"


@pytest.mark.parametrize("status", ["Assigned", "Picked Up", "Out for Delivery"])
def test_another_couriers_order_is_404(client, world, orders, sql, status):
    oid = order_in(client, world, orders, status, courier=world.erin)
    before_row, before_events = order_row(sql, oid), events(sql, oid)
    for to in ("Picked Up", "Out for Delivery", "Delivered", "Returned"):
        code = {"code": "0000000000"} if to == "Delivered" else {}  # Delivered without a code is a 400 first
        assert_error(
            update_status(client, world.dave, order_id=oid, status=to, **code), 404, "order_not_found"
        )
    assert order_row(sql, oid) == before_row and events(sql, oid) == before_events


def test_unassigned_and_unknown_orders_are_404(client, world, orders, sql):
    pending = order_in(client, world, orders, "Pending")
    assert_error(update_status(client, world.dave, order_id=pending, status="Picked Up"), 404)
    assert_error(update_status(client, world.dave, order_id=424242, status="Picked Up"), 404)
    assert order_row(sql, pending)["status"] == "Pending"


def test_previous_courier_loses_the_order_on_reassign(client, world, orders, sql):
    oid = order_in(client, world, orders, "Assigned")
    orders.assign(world.admin, oid, world.erin, reassign=True)
    assert_error(update_status(client, world.dave, order_id=oid, status="Picked Up"), 404)
    assert update_status(client, world.erin, order_id=oid, status="Picked Up").status_code == 200
    assert order_row(sql, oid)["status"] == "Picked Up"


# --------------------------------------------------------------------------------------------
# PATCH /delivery/update-location
# --------------------------------------------------------------------------------------------


def test_location_updates_courier_and_active_orders(client, world, orders, sql):
    assigned = order_in(client, world, orders, "Assigned")
    out = order_in(client, world, orders, "Out for Delivery")
    delivered = order_in(client, world, orders, "Delivered")
    others = order_in(client, world, orders, "Assigned", courier=world.erin)
    before = {oid: len(events(sql, oid)) for oid in (assigned, out, delivered, others)}
    response = update_location(
        client, world.dave, latitude=51.5074, longitude=-0.1278, location="London Bridge"
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "Location updated successfully"
    assert body["order_ids"] == [assigned, out]
    assert body["position"] == {"latitude": 51.5074, "longitude": -0.1278, "location": "London Bridge"}
    me = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True)
    assert float(me["latitude"]) == 51.5074 and float(me["longitude"]) == -0.1278
    assert me["location"] == "London Bridge" and me["position_at"] is not None
    for oid, status in ((assigned, "Assigned"), (out, "Out for Delivery")):
        row = order_row(sql, oid)
        # Coordinates live on the courier (the position stream); a typed location is an order event.
        assert row["latitude"] is None and row["position_at"] is None
        assert row["location"] == "London Bridge" and row["status"] == status
        new = events(sql, oid)[before[oid] :]
        assert len(new) == 1
        assert new[0]["type"] == "location" and new[0]["status"] == status
        assert new[0]["actor_role"] == "delivery_person" and new[0]["actor_id"] == world.dave.id
        assert float(new[0]["latitude"]) == 51.5074 and new[0]["location"] == "London Bridge"
    for oid in (delivered, others):
        row = order_row(sql, oid)
        assert row["latitude"] is None and len(events(sql, oid)) == before[oid]
    positions = sql("SELECT * FROM courier_positions")
    assert len(positions) == 1
    assert positions[0]["delivery_person_id"] == world.dave.id
    assert float(positions[0]["latitude"]) == 51.5074 and positions[0]["location"] == "London Bridge"
    erin = sql(
        "SELECT latitude FROM delivery_persons WHERE delivery_person_id = %s", (world.erin.id,), one=True
    )
    assert erin["latitude"] is None


def test_location_text_only(client, world, orders, sql):
    oid = order_in(client, world, orders, "Picked Up")
    update_location(client, world.dave, latitude=10, longitude=20)
    response = update_location(client, world.dave, location="Main St depot")
    assert response.status_code == 200
    me = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True)
    assert me["location"] == "Main St depot" and float(me["latitude"]) == 10  # coordinates kept
    row = order_row(sql, oid)
    assert row["location"] == "Main St depot" and row["longitude"] is None
    assert count(sql, "courier_positions") == 2
    # Only the typed location is a timeline event; the coordinates-only ping is not.
    assert count(sql, "order_events", "order_id = %s AND type = 'location'", (oid,)) == 1


def test_location_for_one_order(client, world, orders, sql):
    first = order_in(client, world, orders, "Assigned")
    second = order_in(client, world, orders, "Picked Up")
    response = update_location(client, world.dave, latitude=-33.8688, longitude=151.2093, order_id=second)
    assert response.status_code == 200
    assert response.get_json()["order_ids"] == [second]
    assert order_row(sql, second)["latitude"] is None and order_row(sql, first)["latitude"] is None
    assert count(sql, "order_events", "type = 'location'") == 0
    me = sql(
        "SELECT latitude FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True
    )
    assert float(me["latitude"]) == -33.8688
    response = update_location(client, world.dave, location="Gate 4", order_id=second)
    assert count(sql, "order_events", "type = 'location' AND order_id = %s", (second,)) == 1
    assert count(sql, "order_events", "type = 'location'") == 1


def test_location_without_active_orders(client, world, sql):
    response = update_location(client, world.dave, latitude=0, longitude=0)
    assert response.status_code == 200
    assert response.get_json()["order_ids"] == []
    me = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True)
    assert float(me["latitude"]) == 0 and float(me["longitude"]) == 0 and me["position_at"] is not None
    assert count(sql, "courier_positions", "delivery_person_id = %s", (world.dave.id,)) == 1


@pytest.mark.parametrize("lat, lng", [(90, 180), (-90, -180), (0.000001, -0.000001)])
def test_location_boundaries_are_accepted(client, world, sql, lat, lng):
    assert update_location(client, world.dave, latitude=lat, longitude=lng).status_code == 200
    row = sql("SELECT latitude, longitude FROM courier_positions", one=True)
    assert float(row["latitude"]) == lat and float(row["longitude"]) == lng


def assert_nothing_stored(sql, world):
    assert count(sql, "courier_positions") == 0
    assert count(sql, "order_events", "type = 'location'") == 0
    me = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True)
    assert me["latitude"] is None and me["location"] is None and me["position_at"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"latitude": 10}, "longitude"),
        ({"longitude": 10}, "latitude"),
        ({"latitude": 10, "location": "Depot"}, "longitude"),
        ({"latitude": 10, "longitude": None}, "longitude"),
    ],
)
def test_location_one_coordinate_is_400(client, world, orders, sql, body, field):
    order_in(client, world, orders, "Assigned")
    result = assert_error(update_location(client, world.dave, **body), 400)
    assert field in result["fields"]
    assert_nothing_stored(sql, world)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"latitude": 91, "longitude": 0}, "latitude"),
        ({"latitude": -90.5, "longitude": 0}, "latitude"),
        ({"latitude": 0, "longitude": -181}, "longitude"),
        ({"latitude": 0, "longitude": 180.01}, "longitude"),
        ({"latitude": "10", "longitude": 0}, "latitude"),
        ({"latitude": 0, "longitude": True}, "longitude"),
        ({"latitude": 0, "longitude": 0, "location": 5}, "location"),
        ({"location": "x" * 256}, "location"),
        ({"location": "Depot", "order_id": "1"}, "order_id"),
        ({"location": "Depot", "speed": 30}, "speed"),
    ],
)
def test_location_invalid_values_are_400(client, world, orders, sql, body, field):
    order_in(client, world, orders, "Assigned")
    result = assert_error(update_location(client, world.dave, **body), 400)
    assert field in result["fields"]
    assert_nothing_stored(sql, world)


@pytest.mark.parametrize(
    "body", [{}, {"location": "   "}, {"order_id": 1}, {"latitude": None, "longitude": None}]
)
def test_location_nothing_at_all_is_400(client, world, orders, sql, body):
    order_in(client, world, orders, "Assigned")
    result = assert_error(update_location(client, world.dave, **body), 400, "missing_fields")
    assert result["error"] == "Missing required fields"
    assert_nothing_stored(sql, world)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_location_non_finite_is_400(client, world, orders, sql, value):
    order_in(client, world, orders, "Assigned")
    data = '{"latitude": ' + value + ', "longitude": 0}'
    response = client.patch(
        "/delivery/update-location", data=data, content_type="application/json", headers=world.dave.headers
    )
    assert_error(response, 400)
    assert_nothing_stored(sql, world)


def test_location_non_json_is_400(client, world, sql):
    response = client.patch(
        "/delivery/update-location", data="latitude=1&longitude=2", headers=world.dave.headers
    )
    assert_error(response, 400)
    assert_nothing_stored(sql, world)


def test_location_for_another_couriers_order_is_404(client, world, orders, sql):
    oid = order_in(client, world, orders, "Picked Up", courier=world.erin)
    order_in(client, world, orders, "Assigned")  # Dave has an active order too: it must not move either
    response = update_location(client, world.dave, latitude=1, longitude=2, order_id=oid)
    assert_error(response, 404, "order_not_found")
    assert order_row(sql, oid)["latitude"] is None
    assert_nothing_stored(sql, world)


def test_location_for_unknown_order_is_404(client, world, sql):
    assert_error(update_location(client, world.dave, location="X", order_id=424242), 404)
    assert_nothing_stored(sql, world)


def test_location_for_a_finished_order_is_409(client, world, orders, sql):
    oid = order_in(client, world, orders, "Delivered")
    assert_error(update_location(client, world.dave, latitude=1, longitude=2, order_id=oid), 409)
    assert order_row(sql, oid)["latitude"] is None
    assert_nothing_stored(sql, world)


# --------------------------------------------------------------------------------------------
# GET /delivery/history
# --------------------------------------------------------------------------------------------


def test_history_is_finished_orders_newest_first(client, world, orders, sql):
    delivered = order_in(client, world, orders, "Delivered")
    returned = order_in(client, world, orders, "Returned", customer=world.bob)
    cancelled = order_in(client, world, orders, "Cancelled")
    order_in(client, world, orders, "Out for Delivery")  # active: not history
    order_in(client, world, orders, "Delivered", courier=world.erin)  # someone else's
    order_in(client, world, orders, "Pending")
    response = client.get("/delivery/history", headers=world.dave.headers)
    assert response.status_code == 200
    listed = response.get_json()["orders"]
    assert [o["order_id"] for o in listed] == [cancelled, returned, delivered]
    assert [o["status"] for o in listed] == ["Cancelled", "Returned", "Delivered"]
    assert all(o["closed_at"] for o in listed)
    closed = [o["closed_at"] for o in listed]
    assert closed == sorted(closed, reverse=True)


def test_history_orders_by_closing_time_not_id(client, world, orders):
    older = order_in(client, world, orders, "Out for Delivery")
    newer = order_in(client, world, orders, "Assigned")
    orders.move(world.dave, newer, "Picked Up", "Out for Delivery", "Delivered")
    orders.move(world.dave, older, "Delivered")
    listed = client.get("/delivery/history", headers=world.dave.headers).get_json()["orders"]
    assert [o["order_id"] for o in listed] == [older, newer]


def test_history_empty(client, world, orders):
    order_in(client, world, orders, "Picked Up")
    response = client.get("/delivery/history", headers=world.dave.headers)
    assert response.status_code == 200 and response.get_json()["orders"] == []


def test_history_pages(client, world, orders):
    ids = [order_in(client, world, orders, "Delivered") for _ in range(3)]
    first = client.get("/delivery/history", query_string={"limit": 2}, headers=world.dave.headers).get_json()
    assert [o["order_id"] for o in first["orders"]] == ids[::-1][:2]
    second = client.get(
        "/delivery/history",
        query_string={"limit": 2, "cursor": first["next_cursor"]},
        headers=world.dave.headers,
    ).get_json()
    assert [o["order_id"] for o in second["orders"]] == [ids[0]] and second["next_cursor"] is None


@pytest.mark.parametrize("query", [{"limit": "101"}, {"cursor": "???"}, {"sort": "closed_at"}])
def test_history_bad_query_is_400(client, world, query):
    assert_error(client.get("/delivery/history", query_string=query, headers=world.dave.headers), 400)
