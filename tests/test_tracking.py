"""Timelines, the public tracking endpoint, location history and the lifecycle actions' events."""

import re

import pymysql
import pytest

from courier.orders import TRACKING_ALPHABET, new_tracking_number

EXACT = {"latitude": 40.712776, "longitude": -74.005974}
ROUNDED = {"latitude": 40.713, "longitude": -74.006}
PUBLIC_EVENT_KEYS = {"type", "status", "at", "location", "reason", "proof", "actor"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def place(orders, customer):
    return orders.place(
        customer,
        delivery_address="77 Hidden Lane, Springfield",
        recipient_name="Rita Recipient",
        recipient_phone="+1 555 0199",
        pickup_address="12 Sender Road, Springfield",
        description="Blue box",
    )


def report(client, courier, order_id=None, **position):
    body = {**EXACT, **position}
    if order_id is not None:
        body["order_id"] = order_id
    response = client.patch("/delivery/update-location", json=body, headers=courier.headers)
    assert response.status_code == 200, response.get_json()
    return response


def track(client, tracking_number, **kwargs):
    return client.get(f"/track/{tracking_number}", **kwargs)


def event_count(sql, order_id):
    return sql("SELECT COUNT(*) AS n FROM order_events WHERE order_id = %s", (order_id,), one=True)["n"]


def private_strings(sql, world, order):
    """Everything personal about an order: names, emails, phones, addresses, exact coordinates."""
    customer = sql("SELECT * FROM customers WHERE customer_id = %s", (world.alice.id,), one=True)
    courier = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True)
    values = [
        customer["name"],
        customer["email"],
        customer["address"],
        courier["name"],
        courier["email"],
        world.admin.name,
        order["delivery_address"],
        order["pickup_address"],
        order["recipient_name"],
        order["recipient_phone"],
        "Hidden Lane",
        "Sender Road",
        "555 0199",
        "40.712776",
        "40.7128",
        "-74.005974",
        "-74.0060",
        "74.00597",
    ]
    return [v for v in values if v]


def numbers(value):
    """Every number in a JSON document (coordinates are the only numbers the public view may hold)."""
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers(item)]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


def assert_private(body_text, secrets_):
    leaked = [s for s in secrets_ if s.lower() in body_text.lower()]
    assert leaked == [], f"public tracking leaked {leaked}"


# ---------------------------------------------------------------------------------------------
# Public tracking
# ---------------------------------------------------------------------------------------------


def test_public_tracking_shape_and_privacy(client, world, orders, sql):
    order = place(orders, world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", location="Market Street depot")
    report(client, world.dave, order["order_id"], location="Ring road")

    response = track(client, order["tracking_number"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "tracking_number",
        "status",
        "created_at",
        "updated_at",
        "last_location",
        "position",
        "events",
        "eta",
        "eta_reason",
    }
    assert body["tracking_number"] == order["tracking_number"]
    assert body["status"] == "Picked Up"
    assert body["last_location"] == "Ring road"
    assert body["position"] is None  # not Out for Delivery: no coordinates at all
    assert ISO_UTC.match(body["created_at"])
    assert [(e["type"], e["status"]) for e in body["events"]] == [
        ("created", "Pending"),
        ("assignment", "Assigned"),
        ("status", "Picked Up"),
        ("location", "Picked Up"),
    ]
    for event in body["events"]:
        assert set(event) == PUBLIC_EVENT_KEYS
        assert set(event["actor"]) == {"role"}
        assert ISO_UTC.match(event["at"])
    assert [e["actor"]["role"] for e in body["events"]] == [
        "customer",
        "admin",
        "delivery_person",
        "delivery_person",
    ]
    assert body["events"][2]["location"] == "Market Street depot"
    text = response.get_data(as_text=True)
    assert_private(text, private_strings(sql, world, order))
    assert numbers(body) == []
    for word in ("note", "name", "email", "phone", "address", "latitude", "longitude", "Assigned to"):
        assert word not in text


def test_public_position_rounded_only_while_out_for_delivery(client, world, orders, sql):
    order = place(orders, world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up")
    report(client, world.dave, order["order_id"])
    assert track(client, order["tracking_number"]).get_json()["position"] is None

    orders.move(world.dave, order["order_id"], "Out for Delivery")
    report(client, world.dave, order["order_id"], location="Elm Street")
    response = track(client, order["tracking_number"])
    body = response.get_json()
    assert body["status"] == "Out for Delivery"
    position = body["position"]
    assert {k: position[k] for k in ("latitude", "longitude")} == ROUNDED
    assert set(position) == {"latitude", "longitude", "at"}
    assert body["last_location"] == "Elm Street"
    text = response.get_data(as_text=True)
    assert_private(text, private_strings(sql, world, order))
    # Only the one rounded position: the events never carry coordinates.
    assert numbers(body) == [ROUNDED["latitude"], ROUNDED["longitude"]]

    orders.move(world.dave, order["order_id"], "Failed Attempt", reason="address_not_found")
    body = track(client, order["tracking_number"]).get_json()
    assert body["position"] is None
    assert body["events"][-1]["reason"] == "address_not_found"
    assert body["events"][-1]["status"] == "Failed Attempt"

    orders.move(world.dave, order["order_id"], "Out for Delivery", "Delivered")
    body = track(client, order["tracking_number"]).get_json()
    assert body["position"] is None and numbers(body) == []


def test_public_tracking_unknown_number_is_404(client, world, orders):
    place(orders, world.alice)
    for number in (new_tracking_number(), "CT", "x" * 25, "1", "' OR '1'='1"):
        response = track(client, number)
        assert response.status_code == 404, number
        assert response.get_json()["code"] == "tracking_number_not_found"
        assert client.get(f"/track/{number}/events").status_code == 404


def test_public_tracking_rate_limit_429_with_retry_after(app, client, world, orders):
    app.config["TRACK_RATE_LIMIT"] = "3/minute"
    order = place(orders, world.alice)
    numbers = [order["tracking_number"], new_tracking_number(), order["tracking_number"]]
    assert [track(client, n).status_code for n in numbers] == [200, 404, 200]
    limited = track(client, order["tracking_number"])
    assert limited.status_code == 429
    body = limited.get_json()
    assert body["code"] == "rate_limited" and body["error"]
    retry_after = limited.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit() and 0 < int(retry_after) <= 60
    # The limit is per client: another address still gets through.
    other = track(client, order["tracking_number"], environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 200


def test_public_stream_is_rate_limited_too(app, client, world, orders):
    app.config["TRACK_RATE_LIMIT"] = "1/minute"
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    client.post(f"/admin/cancel-order/{order['order_id']}", headers=world.admin.headers)
    assert client.get(f"/track/{order['tracking_number']}/events").status_code == 200
    limited = client.get(f"/track/{order['tracking_number']}/events")
    assert limited.status_code == 429 and limited.headers["Retry-After"].isdigit()


def test_tracking_numbers_are_random_and_not_derived_from_the_id(world, orders, sql):
    pattern = re.compile(rf"^CT[{TRACKING_ALPHABET}]{{16}}$")
    # 16 symbols of a 32-letter alphabet: 80 random bits, at least the 60 required.
    assert len(TRACKING_ALPHABET) == 32 and 16 * 5 >= 60
    placed = [orders.place(world.alice) for _ in range(8)]
    numbers = [o["tracking_number"] for o in placed]
    assert all(pattern.match(n) for n in numbers)
    stored = sql("SELECT order_id, tracking_number FROM orders ORDER BY order_id")
    assert [r["tracking_number"] for r in stored] == numbers
    # Consecutive orders share no structure: two random numbers differ in almost every position.
    for a, b in zip(numbers, numbers[1:], strict=False):
        assert sum(x != y for x, y in zip(a[2:], b[2:], strict=True)) >= 8
    generated = {new_tracking_number() for _ in range(2000)}
    assert len(generated) == 2000
    # Every symbol turns up in every position: no fixed, counter-like or id-like part.
    for position in range(2, 18):
        assert len({n[position] for n in generated}) == 32


# ---------------------------------------------------------------------------------------------
# The customer's timeline and trail
# ---------------------------------------------------------------------------------------------


def test_customer_timeline_oldest_first_with_actor_role_and_name(client, world, orders, sql):
    order = place(orders, world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.assign(world.admin, order["order_id"], world.erin, reassign=True)
    orders.move(world.erin, order["order_id"], "Picked Up", note="Got it", location="Depot 4")
    response = client.get(f"/customer/track-order/{order['order_id']}", headers=world.alice.headers)
    assert response.status_code == 200
    body = response.get_json()
    events = body["events"]
    ids = [e["event_id"] for e in events]
    assert ids == sorted(ids) and len(ids) == 4
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert all(ISO_UTC.match(e["at"]) for e in events)
    assert [(e["status"], e["actor"]["role"], e["actor"]["name"]) for e in events] == [
        ("Pending", "customer", world.alice.name),
        ("Assigned", "admin", world.admin.name),
        ("Assigned", "admin", world.admin.name),
        ("Picked Up", "delivery_person", world.erin.name),
    ]
    assert events[1]["note"] == f"Assigned to {world.dave.name}"
    assert events[2]["note"] == f"Reassigned to {world.erin.name}"
    assert events[3]["note"] == "Got it" and events[3]["location"] == "Depot 4"
    assert body["courier"] == {"delivery_person_id": world.erin.id, "name": world.erin.name}
    rows = sql(
        "SELECT event_id FROM order_events WHERE order_id = %s ORDER BY event_id", (order["order_id"],)
    )
    assert [r["event_id"] for r in rows] == ids


def test_trail_and_position_only_while_out_for_delivery(app, client, world, orders):
    app.config["POSITION_MAX_SPEED_KMH"] = 1e9  # points 100 m apart, milliseconds apart
    order = place(orders, world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up")
    report(client, world.dave, order["order_id"], latitude=51.5, longitude=-0.12)

    def view():
        response = client.get(f"/customer/track-order/{order['order_id']}", headers=world.alice.headers)
        assert response.status_code == 200
        return response.get_json()

    assert view()["trail"] == [] and view()["last_position"] is None
    orders.move(world.dave, order["order_id"], "Out for Delivery")
    report(client, world.dave, order["order_id"], latitude=51.501, longitude=-0.121, location="A")
    report(client, world.dave, order["order_id"], latitude=51.502, longitude=-0.122, location="B")
    body = view()
    assert [(p["latitude"], p["longitude"], p["location"]) for p in body["trail"]] == [
        (51.501, -0.121, "A"),
        (51.502, -0.122, "B"),
    ]
    assert (body["last_position"]["latitude"], body["last_position"]["longitude"]) == (51.502, -0.122)
    orders.move(world.dave, order["order_id"], "Delivered")
    body = view()
    assert body["trail"] == [] and body["last_position"] is None
    # Someone else's order is 404, with no trail.
    assert (
        client.get(f"/customer/track-order/{order['order_id']}", headers=world.bob.headers).status_code == 404
    )


@pytest.mark.parametrize(
    "position",
    [
        {"latitude": 90.0001, "longitude": 0},
        {"latitude": -91, "longitude": 0},
        {"latitude": 0, "longitude": 180.5},
        {"latitude": 0, "longitude": -181},
        {"latitude": "40", "longitude": 0},
        {"latitude": 10},
    ],
)
def test_position_out_of_range_is_400_and_stores_nothing(client, world, orders, sql, position):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    before = event_count(sql, order["order_id"])
    response = client.patch(
        "/delivery/update-location",
        json={**position, "order_id": order["order_id"]},
        headers=world.dave.headers,
    )
    assert response.status_code == 400
    assert response.get_json()["fields"]
    assert sql("SELECT COUNT(*) AS n FROM courier_positions", one=True)["n"] == 0
    assert event_count(sql, order["order_id"]) == before
    row = sql(
        "SELECT latitude, position_at FROM delivery_persons WHERE delivery_person_id = %s",
        (world.dave.id,),
        one=True,
    )
    assert row == {"latitude": None, "position_at": None}


def test_location_update_appends_history(app, client, world, orders, sql):
    app.config["POSITION_MAX_SPEED_KMH"] = 1e9  # pole to pole in milliseconds
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    report(client, world.dave, latitude=-90, longitude=180)
    report(client, world.dave, latitude=90, longitude=-180, location="Edge")
    rows = sql(
        "SELECT latitude, longitude, location FROM courier_positions WHERE delivery_person_id = %s"
        " ORDER BY position_id",
        (world.dave.id,),
    )
    assert [(float(r["latitude"]), float(r["longitude"]), r["location"]) for r in rows] == [
        (-90.0, 180.0, None),
        (90.0, -180.0, "Edge"),
    ]
    # created, assignment, and the typed location: the coordinates-only ping is no timeline event
    assert event_count(sql, order["order_id"]) == 3


# ---------------------------------------------------------------------------------------------
# Lifecycle actions: one event each, 409 with the allowed statuses otherwise
# ---------------------------------------------------------------------------------------------


def last_event(sql, order_id):
    return sql(
        "SELECT type, status, reason, actor_role, actor_id FROM order_events WHERE order_id = %s"
        " ORDER BY event_id DESC LIMIT 1",
        (order_id,),
        one=True,
    )


def test_each_lifecycle_action_writes_exactly_one_event(client, world, orders, sql):
    def act(order_id, call, expected):
        before = event_count(sql, order_id)
        response = call()
        assert response.status_code == 200, response.get_json()
        assert event_count(sql, order_id) == before + 1
        row = last_event(sql, order_id)
        assert {k: row[k] for k in expected} == expected
        status = sql("SELECT status FROM orders WHERE order_id = %s", (order_id,), one=True)["status"]
        assert status == row["status"]

    admin, dave = world.admin, world.dave

    def status(order_id, new, **extra):
        body = {"order_id": order_id, "status": new, **extra}
        return lambda: client.patch("/delivery/update-status", json=body, headers=dave.headers)

    def assign(order_id, courier, **extra):
        body = {"order_id": order_id, "delivery_person_id": courier.id, **extra}
        return lambda: client.post("/admin/assign-delivery", json=body, headers=admin.headers)

    first = orders.place(world.alice)
    assert event_count(sql, first["order_id"]) == 1
    oid = first["order_id"]
    act(oid, assign(oid, world.erin), {"type": "assignment", "status": "Assigned", "actor_role": "admin"})
    act(oid, assign(oid, dave, reassign=True), {"type": "assignment", "status": "Assigned"})
    act(oid, status(oid, "Picked Up"), {"status": "Picked Up", "actor_role": "delivery_person"})
    act(oid, status(oid, "In Transit"), {"status": "In Transit", "actor_id": dave.id})
    act(oid, status(oid, "Out for Delivery"), {"status": "Out for Delivery"})
    act(
        oid,
        status(oid, "Failed Attempt", reason="refused"),
        {"status": "Failed Attempt", "reason": "refused"},
    )
    act(oid, status(oid, "Out for Delivery"), {"status": "Out for Delivery", "reason": None})
    act(
        oid,
        status(oid, "Failed Attempt", reason="damaged"),
        {"status": "Failed Attempt", "reason": "damaged"},
    )
    act(oid, status(oid, "Returned"), {"status": "Returned", "actor_role": "delivery_person"})

    second = orders.place(world.alice)["order_id"]
    orders.assign(admin, second, dave)
    orders.move(dave, second, "Picked Up", "Out for Delivery", "Failed Attempt")
    admin_return = lambda: client.post(f"/admin/return-order/{second}", headers=admin.headers)  # noqa: E731
    act(second, admin_return, {"status": "Returned", "actor_role": "admin", "actor_id": admin.id})

    third = orders.place(world.alice)["order_id"]
    customer_cancel = lambda: client.post(  # noqa: E731
        f"/customer/cancel-order/{third}", json={"reason": "Changed my mind"}, headers=world.alice.headers
    )
    act(third, customer_cancel, {"status": "Cancelled", "actor_role": "customer"})

    fourth = orders.place(world.bob)["order_id"]
    orders.assign(admin, fourth, dave)
    orders.move(dave, fourth, "Picked Up", "In Transit")
    admin_cancel = lambda: client.post(f"/admin/cancel-order/{fourth}", headers=admin.headers)  # noqa: E731
    act(fourth, admin_cancel, {"status": "Cancelled", "actor_role": "admin"})

    fifth = orders.place(world.bob)["order_id"]
    orders.assign(admin, fifth, dave)
    orders.move(dave, fifth, "Picked Up", "Out for Delivery")
    act(fifth, status(fifth, "Delivered", code=orders.code(fifth)), {"status": "Delivered"})


@pytest.mark.parametrize(
    "path, moves, action, allowed",
    [
        ("courier", ["Picked Up"], ("courier", "Delivered"), ["In Transit", "Out for Delivery"]),
        ("courier", [], ("courier", "Out for Delivery"), ["Picked Up"]),
        (
            "courier",
            ["Picked Up", "Out for Delivery"],
            ("courier", "Returned"),
            ["Delivered", "Failed Attempt"],
        ),
        ("courier", ["Picked Up", "Out for Delivery", "Delivered"], ("courier", "Picked Up"), []),
        ("courier", ["Picked Up"], ("customer_cancel", None), []),
        ("courier", [], ("admin_return", None), ["Assigned", "Cancelled"]),
        ("courier", ["Picked Up", "Out for Delivery", "Delivered"], ("admin_cancel", None), []),
        ("courier", ["Picked Up", "Out for Delivery"], ("admin_return", None), ["Delivered", "Cancelled"]),
    ],
)
def test_illegal_move_is_409_with_allowed_statuses(client, world, orders, sql, path, moves, action, allowed):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    if moves:
        orders.move(world.dave, oid, *moves)
    before_events = event_count(sql, oid)
    before = sql("SELECT status, updated_at FROM orders WHERE order_id = %s", (oid,), one=True)
    kind, status = action
    if kind == "courier":
        body = {"order_id": oid, "status": status, "reason": "other"}
        if status == "Delivered":  # a well-formed request (Delivered carries its code), at the wrong moment
            body["code"] = orders.code(oid)
        response = client.patch("/delivery/update-status", json=body, headers=world.dave.headers)
    elif kind == "customer_cancel":
        response = client.post(f"/customer/cancel-order/{oid}", headers=world.alice.headers)
    elif kind == "admin_cancel":
        response = client.post(f"/admin/cancel-order/{oid}", headers=world.admin.headers)
    else:
        response = client.post(f"/admin/return-order/{oid}", headers=world.admin.headers)
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "illegal_transition" and body["error"]
    assert body["allowed"] == allowed
    assert body["current_status"] == before["status"]
    assert event_count(sql, oid) == before_events
    assert sql("SELECT status, updated_at FROM orders WHERE order_id = %s", (oid,), one=True) == before


def test_admin_return_order(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up", "Out for Delivery", "Failed Attempt")
    url = f"/admin/return-order/{oid}"
    assert client.post(url, headers=world.dave.headers).status_code == 403
    assert client.post(url, headers=world.alice.headers).status_code == 403
    assert client.post(url).status_code == 401
    assert client.post("/admin/return-order/999999", headers=world.admin.headers).status_code == 404
    bad = client.post(url, json={"reason": "x", "extra": 1}, headers=world.admin.headers)
    assert bad.status_code == 400
    assert (
        sql("SELECT status FROM orders WHERE order_id = %s", (oid,), one=True)["status"] == "Failed Attempt"
    )

    response = client.post(url, json={"reason": "Sender collected it"}, headers=world.admin.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Order returned"
    assert body["order"]["status"] == "Returned" and body["order"]["closed_at"]
    row = sql(
        "SELECT note, actor_role FROM order_events WHERE order_id = %s ORDER BY event_id DESC LIMIT 1", (oid,)
    )
    assert row == [{"note": "Sender collected it", "actor_role": "admin"}]
    again = client.post(url, headers=world.admin.headers)
    assert again.status_code == 409 and again.get_json()["allowed"] == []


def test_failed_attempt_needs_a_reason_code(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up", "Out for Delivery")
    before = event_count(sql, oid)
    for extra in ({}, {"reason": "bored"}, {"reason": None}):
        body = {"order_id": oid, "status": "Failed Attempt", **extra}
        response = client.patch("/delivery/update-status", json=body, headers=world.dave.headers)
        assert response.status_code == 400, extra
    assert event_count(sql, oid) == before


def test_events_are_append_only_in_the_database(world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    with pytest.raises(pymysql.err.OperationalError, match="append-only"):
        sql("UPDATE order_events SET note = 'edited' WHERE order_id = %s", (oid,))
    with pytest.raises(pymysql.err.OperationalError, match="append-only"):
        sql("DELETE FROM order_events WHERE order_id = %s", (oid,))
    assert event_count(sql, oid) == 1


def test_trail_keeps_the_latest_500_points_oldest_first(client, world, orders, sql):
    order = place(orders, world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    values = ", ".join(["(%s, %s, 20, %s, UTC_TIMESTAMP(6) + INTERVAL %s SECOND)"] * 510)
    args = [v for i in range(1, 511) for v in (world.dave.id, 10 + i / 10000, f"p{i}", i)]
    sql(
        "INSERT INTO courier_positions (delivery_person_id, latitude, longitude, location, created_at)"
        f" VALUES {values}",
        args,
    )
    view = client.get(f"/customer/track-order/{order['order_id']}", headers=world.alice.headers)
    trail = view.get_json()["trail"]
    assert len(trail) == 500
    assert [p["location"] for p in trail[:2]] == ["p11", "p12"] and trail[-1]["location"] == "p510"
