"""Dispatch plans through the HTTP API: planning, every route checked independently, applying, staleness,
reasons for unassigned orders, bad input, and AUTO_DISPATCH=nearest."""

from datetime import datetime, timedelta

import pytest
from helpers import assert_error, count, events, order_row

T0 = datetime(2030, 1, 15, 9, 0, 0)  # the injected clock: a weekday morning
START = "2030-01-15T09:00:00Z"
DEPOT_A = (40.7128, -74.0060)
DEPOT_B = (40.7306, -73.9866)


def iso(value):
    return value.isoformat() + "Z"


def parse(value):
    return datetime.fromisoformat(value.replace("Z", ""))


@pytest.fixture
def clock(app):
    app.config["CLOCK"] = lambda: T0
    return T0


def set_courier(client, admin, courier, depot, on_shift=True, **settings):
    body = {
        "depot_latitude": depot[0],
        "depot_longitude": depot[1],
        "shift_start": "08:00",
        "shift_end": "18:00",
    }
    response = client.patch(f"/admin/couriers/{courier.id}", json={**body, **settings}, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    if on_shift:
        response = client.post("/delivery/shift/start", headers=courier.headers)
        assert response.status_code == 200, response.get_json()
    return response.get_json()["courier"]


def place(orders, customer, i, weight=1.0, window=None, coords=True):
    body = {"weight_kg": weight}
    if coords:
        body.update(
            pickup_latitude=40.70 + 0.004 * (i % 7),
            pickup_longitude=-74.01 + 0.003 * (i % 5),
            delivery_latitude=40.72 + 0.005 * (i % 6),
            delivery_longitude=-73.99 + 0.004 * (i % 4),
        )
    if window:
        body.update(window_start=iso(window[0]), window_end=iso(window[1]))
    return orders.place(customer, **body)


@pytest.fixture
def fleet(client, world, clock):
    """Dave and Erin on shift (08:00-18:00 UTC) at two depots; Dave carries 10 kg / 4 parcels."""
    set_courier(client, world.admin, world.dave, DEPOT_A, capacity_kg=10, capacity_parcels=4)
    set_courier(client, world.admin, world.erin, DEPOT_B, capacity_kg=25, capacity_parcels=10)
    return world


def check_route(route, shift_end):
    """One route on its own: load never above capacity, each pickup before its delivery, ETAs in order,
    every delivery inside its window, back at the depot before the shift ends."""
    load_kg, parcels, picked, last = 0.0, 0, set(), None
    for stop in route["stops"]:
        eta = parse(stop["eta"])
        assert last is None or eta >= last
        last = eta
        if stop["type"] == "pickup":
            load_kg += stop["weight_kg"] or 0
            parcels += 1
            picked.add(stop["order_id"])
            assert load_kg <= route["capacity_kg"] + 1e-9
            assert parcels <= route["capacity_parcels"]
        else:
            assert stop["order_id"] in picked or not stop["new"]
            if stop["order_id"] in picked:
                load_kg -= stop["weight_kg"] or 0
                parcels -= 1
            if stop["window_start"]:
                assert eta >= parse(stop["window_start"])
            if stop["window_end"]:
                assert eta <= parse(stop["window_end"])
    assert parse(route["end"]["eta"]) <= parse(shift_end)
    assert parse(route["shift_end"]) == parse(shift_end)


def test_plan_routes_every_order_within_capacity_windows_and_shifts(client, fleet, orders, sql):
    windows = [None, (T0 + timedelta(hours=1), T0 + timedelta(hours=2)), (T0, T0 + timedelta(hours=3))]
    placed = [place(orders, fleet.alice, i, weight=1.5, window=windows[i % 3]) for i in range(12)]
    response = client.post("/admin/dispatch/plans", json={"start_at": START}, headers=fleet.admin.headers)
    assert response.status_code == 201, response.get_json()
    plan = response.get_json()
    for key in ("plan_id", "created_at", "solver_ms", "totals", "routes", "unassigned"):
        assert key in plan
    assert set(plan["totals"]) >= {"distance_m", "duration_s"}
    routed = {s["order_id"] for r in plan["routes"] for s in r["stops"]}
    assert routed | {u["order_id"] for u in plan["unassigned"]} == {o["order_id"] for o in placed}
    assert len(routed) >= 10
    for route in plan["routes"]:
        assert set(route) >= {"courier_id", "distance_m", "duration_s", "stops"}
        for stop in route["stops"]:
            assert set(stop) >= {
                "order_id",
                "type",
                "latitude",
                "longitude",
                "eta",
                "window_start",
                "window_end",
            }
        check_route(route, "2030-01-15T18:00:00Z")
    assert plan["totals"]["duration_s"] == sum(r["duration_s"] for r in plan["routes"])
    # Planning assigns nothing.
    assert count(sql, "orders", "status = 'Pending'") == 12
    again = client.get(f"/admin/dispatch/plans/{plan['plan_id']}", headers=fleet.admin.headers)
    assert again.status_code == 200
    assert again.get_json()["routes"] == plan["routes"] and again.get_json()["applied_at"] is None


def test_unassigned_orders_carry_their_reason(client, fleet, orders):
    fine = place(orders, fleet.alice, 1)
    no_coords = place(orders, fleet.alice, 2, coords=False)
    heavy = place(orders, fleet.alice, 3, weight=40)
    # Ends two minutes after the start: nobody gets there in time.
    tight = place(orders, fleet.alice, 4, window=(T0, T0 + timedelta(minutes=2)))
    response = client.post("/admin/dispatch/plans", json={"start_at": START}, headers=fleet.admin.headers)
    plan = response.get_json()
    reasons = {u["order_id"]: u["reason"] for u in plan["unassigned"]}
    assert reasons == {
        no_coords["order_id"]: "no_coordinates",
        heavy["order_id"]: "over_capacity",
        tight["order_id"]: "window_unreachable",
    }
    assert all(u["message"] for u in plan["unassigned"])
    assert [s["order_id"] for r in plan["routes"] for s in r["stops"]] == [fine["order_id"]] * 2


def test_small_courier_carries_at_most_its_capacity_at_once(client, world, clock, orders):
    set_courier(client, world.admin, world.dave, DEPOT_A, capacity_kg=5, capacity_parcels=2)
    placed = [place(orders, world.alice, i, weight=2) for i in range(5)]
    plan = client.post(
        "/admin/dispatch/plans", json={"start_at": START}, headers=world.admin.headers
    ).get_json()
    (route,) = plan["routes"]
    check_route(route, "2030-01-15T18:00:00Z")
    assert {s["order_id"] for s in route["stops"]} == {o["order_id"] for o in placed}


def test_plan_without_courier_on_shift_is_409_and_stores_nothing(client, world, clock, orders, sql):
    set_courier(client, world.admin, world.dave, DEPOT_A, on_shift=False)
    order = place(orders, world.alice, 1)
    response = client.post("/admin/dispatch/plans", headers=world.admin.headers)
    body = assert_error(response, 409, "no_courier_on_shift")
    assert body["unassigned"][0] == {
        "order_id": order["order_id"],
        "reason": "no_courier_on_shift",
        "message": body["unassigned"][0]["message"],
    }
    assert count(sql, "dispatch_plans") == 0


def test_apply_assigns_routed_orders_once(client, fleet, orders, sql):
    placed = [place(orders, fleet.alice, i) for i in range(5)]
    plan = client.post(
        "/admin/dispatch/plans", json={"start_at": START}, headers=fleet.admin.headers
    ).get_json()
    response = client.post(f"/admin/dispatch/plans/{plan['plan_id']}/apply", headers=fleet.admin.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["plan"]["applied_at"] is not None
    assert len(body["assigned"]) == 5
    for item in body["assigned"]:
        row = order_row(sql, item["order_id"])
        assert row["status"] == "Assigned" and row["assigned_to"] == item["courier_id"]
        assert [e["type"] for e in events(sql, item["order_id"])] == ["created", "assignment"]
    for route in plan["routes"]:
        stored = sql(
            "SELECT order_id, stop_type FROM route_stops WHERE delivery_person_id = %s ORDER BY seq",
            (route["courier_id"],),
        )
        assert [(r["order_id"], r["stop_type"]) for r in stored] == [
            (s["order_id"], s["type"]) for s in route["stops"]
        ]
    second = client.post(f"/admin/dispatch/plans/{plan['plan_id']}/apply", headers=fleet.admin.headers)
    assert_error(second, 409, "plan_already_applied")
    assert count(sql, "order_events", "type = 'assignment'") == len(placed)


@pytest.mark.parametrize("change", ["cancel", "shift_end", "assign"])
def test_stale_plan_is_409_and_assigns_nothing(client, fleet, orders, sql, change):
    placed = [place(orders, fleet.alice, i) for i in range(3)]
    plan = client.post(
        "/admin/dispatch/plans", json={"start_at": START}, headers=fleet.admin.headers
    ).get_json()
    if change == "cancel":
        response = client.post(f"/admin/cancel-order/{placed[0]['order_id']}", headers=fleet.admin.headers)
    elif change == "shift_end":
        response = client.post("/delivery/shift/end", headers=fleet.erin.headers)
    else:
        response = client.post(
            "/admin/assign-delivery",
            json={"order_id": placed[1]["order_id"], "delivery_person_id": fleet.dave.id},
            headers=fleet.admin.headers,
        )
    assert response.status_code == 200
    before = count(sql, "order_events")
    response = client.post(f"/admin/dispatch/plans/{plan['plan_id']}/apply", headers=fleet.admin.headers)
    assert_error(response, 409, "plan_stale")
    assert count(sql, "order_events") == before
    assert count(sql, "dispatch_plans", "applied_at IS NOT NULL") == 0


def test_plan_includes_couriers_active_orders(client, fleet, orders, sql):
    mine = place(orders, fleet.alice, 1)
    orders.assign(fleet.admin, mine["order_id"], fleet.dave)
    orders.move(fleet.dave, mine["order_id"], "Picked Up")
    new = place(orders, fleet.alice, 2)
    body = {"start_at": START, "courier_ids": [fleet.dave.id]}
    plan = client.post("/admin/dispatch/plans", json=body, headers=fleet.admin.headers).get_json()
    stops = [(s["order_id"], s["type"], s["new"]) for s in plan["routes"][0]["stops"]]
    assert (mine["order_id"], "delivery", False) in stops
    assert (mine["order_id"], "pickup", False) not in stops
    assert {(new["order_id"], "pickup", True), (new["order_id"], "delivery", True)} <= set(stops)
    assert plan["order_ids"] == [new["order_id"]]


def test_plan_bad_input_names_the_field_and_stores_nothing(client, fleet, orders, sql, auth):
    order = place(orders, fleet.alice, 1)
    url, headers = "/admin/dispatch/plans", fleet.admin.headers
    body = assert_error(
        client.post(url, json={"order_ids": [order["order_id"], 999999]}, headers=headers), 404
    )
    assert "order_ids" in body["fields"]
    body = assert_error(client.post(url, json={"courier_ids": [999999]}, headers=headers), 404)
    assert "courier_ids" in body["fields"]
    body = assert_error(client.post(url, json={"start_at": "tomorrow"}, headers=headers), 400)
    assert "start_at" in body["fields"]
    body = assert_error(client.post(url, json={"order_ids": ["x"]}, headers=headers), 400)
    assert "order_ids.0" in body["fields"]
    idle = auth.courier()
    body = assert_error(
        client.post(url, json={"courier_ids": [idle.id]}, headers=headers), 409, "courier_not_on_shift"
    )
    assert "courier_ids" in body["fields"]
    orders.assign(fleet.admin, order["order_id"], fleet.dave)
    body = assert_error(client.post(url, json={"order_ids": [order["order_id"]]}, headers=headers), 409)
    assert "order_ids" in body["fields"]
    assert count(sql, "dispatch_plans") == 0
    assert_error(client.post(url), 401)
    assert_error(client.post(url, headers=fleet.alice.headers), 403)
    assert_error(client.post(url, headers=fleet.dave.headers), 403)
    assert_error(client.get("/admin/dispatch/plans/424242", headers=headers), 404, "plan_not_found")
    assert_error(client.post("/admin/dispatch/plans/424242/apply", headers=headers), 404, "plan_not_found")
    assert_error(client.get("/admin/dispatch/plans/1", headers=fleet.erin.headers), 403)
    assert_error(client.post("/admin/dispatch/plans/1/apply"), 401)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"pickup_latitude": 91, "pickup_longitude": 0}, "pickup_latitude"),
        ({"delivery_latitude": 10, "delivery_longitude": 181}, "delivery_longitude"),
        ({"delivery_latitude": 10}, "delivery_longitude"),
        ({"window_start": "2030-01-15T12:00:00Z", "window_end": "2030-01-15T11:00:00Z"}, "window_end"),
        ({"window_end": "2030-01-15T08:00:00Z"}, "window_end"),
        ({"window_end": "soon"}, "window_end"),
    ],
)
def test_place_order_checks_coordinates_and_window(client, world, clock, sql, extra, field):
    body = {"delivery_address": "1 Road", "recipient_name": "Rita", **extra}
    response = client.post("/customer/place-order", json=body, headers=world.alice.headers)
    assert field in assert_error(response, 400)["fields"]
    assert count(sql, "orders") == 0


def test_place_order_stores_coordinates_and_window(client, world, clock, sql):
    body = {
        "delivery_address": "1 Road",
        "recipient_name": "Rita",
        "pickup_latitude": 40.7,
        "pickup_longitude": -74.0,
        "delivery_latitude": 40.75,
        "delivery_longitude": -73.98,
        "window_start": "2030-01-15T10:00:00+01:00",
        "window_end": "2030-01-15T12:00:00Z",
    }
    response = client.post("/customer/place-order", json=body, headers=world.alice.headers)
    assert response.status_code == 201, response.get_json()
    order = response.get_json()["order"]
    assert order["window_start"].startswith("2030-01-15T09:00:00") and order["delivery_latitude"] == 40.75
    row = order_row(sql, order["order_id"])
    assert row["window_end"] == datetime(2030, 1, 15, 12) and float(row["pickup_longitude"]) == -74.0


def test_auto_dispatch_nearest_assigns_a_new_order(app, client, fleet, orders, sql):
    app.config["AUTO_DISPATCH"] = "nearest"
    near_b = orders.place(
        fleet.alice,
        pickup_latitude=40.731,
        pickup_longitude=-73.987,
        delivery_latitude=40.74,
        delivery_longitude=-73.99,
        weight_kg=2,
    )
    row = order_row(sql, near_b["order_id"])
    assert row["status"] == "Assigned" and row["assigned_to"] == fleet.erin.id
    event = events(sql, near_b["order_id"], "assignment")[0]
    assert event["actor_role"] == "system" and "Automatically assigned" in event["note"]
    # Too heavy for anyone: stays Pending.
    heavy = orders.place(
        fleet.alice,
        pickup_latitude=40.731,
        pickup_longitude=-73.987,
        delivery_latitude=40.74,
        delivery_longitude=-73.99,
        weight_kg=30,
    )
    assert order_row(sql, heavy["order_id"])["status"] == "Pending"
    # Erin is full by parcels after enough orders; Dave (farther) gets the next one.
    client.patch(
        f"/admin/couriers/{fleet.erin.id}", json={"capacity_parcels": 1}, headers=fleet.admin.headers
    )
    next_one = orders.place(
        fleet.alice,
        pickup_latitude=40.731,
        pickup_longitude=-73.987,
        delivery_latitude=40.74,
        delivery_longitude=-73.99,
    )
    assert order_row(sql, next_one["order_id"])["assigned_to"] == fleet.dave.id


def test_auto_dispatch_off_by_default(client, fleet, orders, sql):
    order = place(orders, fleet.alice, 1)
    assert order_row(sql, order["order_id"])["status"] == "Pending"


def test_unknown_auto_dispatch_mode_refuses_to_start():
    from conftest import _config

    from app1 import create_app

    with pytest.raises(RuntimeError, match="AUTO_DISPATCH"):
        create_app({**_config(), "AUTO_DISPATCH": "fastest"})
