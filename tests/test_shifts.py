"""Couriers' shifts and dispatch settings through the HTTP API."""

from datetime import datetime

import pytest
from helpers import assert_error

T0 = datetime(2030, 1, 15, 9, 0, 0)


@pytest.fixture(autouse=True)
def clock(app):
    app.config["CLOCK"] = lambda: T0


def test_shift_start_and_end(client, world, sql):
    response = client.post("/delivery/shift/start", headers=world.dave.headers)
    assert response.status_code == 200
    courier = response.get_json()["courier"]
    assert courier["on_shift"] is True and courier["on_shift_since"].startswith("2030-01-15T09:00:00")
    assert_error(client.post("/delivery/shift/start", headers=world.dave.headers), 409, "already_on_shift")
    listed = client.get("/admin/couriers?on_shift=true", headers=world.admin.headers).get_json()["couriers"]
    assert [c["delivery_person_id"] for c in listed] == [world.dave.id]
    response = client.post("/delivery/shift/end", headers=world.dave.headers)
    assert response.status_code == 200 and response.get_json()["courier"]["on_shift"] is False
    assert_error(client.post("/delivery/shift/end", headers=world.dave.headers), 409, "not_on_shift")
    row = sql(
        "SELECT on_shift_since FROM delivery_persons WHERE delivery_person_id = %s",
        (world.dave.id,),
        one=True,
    )
    assert row["on_shift_since"] is None


@pytest.mark.parametrize("path", ["/delivery/shift/start", "/delivery/shift/end"])
def test_shift_needs_a_courier(client, world, path):
    assert_error(client.post(path), 401)
    assert_error(client.post(path, headers=world.admin.headers), 403)
    assert_error(client.post(path, headers=world.alice.headers), 403)


def test_admin_sets_capacity_depot_and_hours(client, world, sql):
    body = {
        "capacity_kg": 12.5,
        "capacity_parcels": 6,
        "depot_latitude": 40.7,
        "depot_longitude": -74.0,
        "shift_start": "22:00",
        "shift_end": "06:00",
    }
    response = client.patch(f"/admin/couriers/{world.erin.id}", json=body, headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()
    courier = response.get_json()["courier"]
    assert courier == {**courier, **body, "on_shift": False}
    row = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.erin.id,), one=True)
    assert (
        float(row["capacity_kg"]) == 12.5
        and row["capacity_parcels"] == 6
        and float(row["depot_latitude"]) == 40.7
    )
    # Other couriers keep the defaults.
    listed = client.get("/admin/couriers", headers=world.admin.headers).get_json()["couriers"]
    dave = next(c for c in listed if c["delivery_person_id"] == world.dave.id)
    assert (dave["capacity_kg"], dave["capacity_parcels"], dave["shift_start"], dave["shift_end"]) == (
        50.0,
        20,
        "08:00",
        "18:00",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"capacity_kg": 0}, "capacity_kg"),
        ({"capacity_parcels": 0}, "capacity_parcels"),
        ({"capacity_parcels": 2.5}, "capacity_parcels"),
        ({"depot_latitude": 95, "depot_longitude": 0}, "depot_latitude"),
        ({"depot_latitude": 40}, "depot_longitude"),
        ({"depot_longitude": 40}, "depot_latitude"),
        ({"shift_start": "25:00"}, "shift_start"),
        ({"shift_end": "noon"}, "shift_end"),
        ({"colour": "red"}, "colour"),
        ({}, "body"),
    ],
)
def test_bad_settings_name_the_field_and_change_nothing(client, world, sql, body, field):
    before = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True)
    response = client.patch(f"/admin/couriers/{world.dave.id}", json=body, headers=world.admin.headers)
    assert field in assert_error(response, 400)["fields"]
    after = sql("SELECT * FROM delivery_persons WHERE delivery_person_id = %s", (world.dave.id,), one=True)
    assert after == before


def test_courier_settings_access(client, world):
    url = f"/admin/couriers/{world.dave.id}"
    assert_error(client.patch(url, json={"capacity_kg": 3}), 401)
    assert_error(client.patch(url, json={"capacity_kg": 3}, headers=world.dave.headers), 403)
    assert_error(client.patch(url, json={"capacity_kg": 3}, headers=world.alice.headers), 403)
    assert_error(
        client.patch("/admin/couriers/999999", json={"capacity_kg": 3}, headers=world.admin.headers), 404
    )
    assert_error(client.get("/admin/couriers", headers=world.dave.headers), 403)
    assert_error(client.get("/admin/couriers?on_shift=maybe", headers=world.admin.headers), 400)
