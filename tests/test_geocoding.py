"""Geocoding orders placed without coordinates: the worker asks a Nominatim-compatible service (geopy)."""

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import FakeService, events, order_row, serving

from courier import worker

PLACES = {
    "12 Market Street, Springfield": ("40.7150000", "-74.0090000"),
    "1 Delivery Road": ("40.7420000", "-73.9890000"),
}


class Nominatim(FakeService):
    """Speaks Nominatim's /search?q=...&format=json: a list of places with lat/lon as strings."""

    queries = []

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        Nominatim.queries.append(query.get("q", [""])[0])
        if url.path != "/search":
            self.send_response(404)
            self.end_headers()
            return
        found = PLACES.get(query.get("q", [""])[0])
        places = [{"place_id": 1, "lat": found[0], "lon": found[1], "display_name": "x"}] if found else []
        self.json(places)


@pytest.fixture
def nominatim():
    Nominatim.queries = []
    with serving(Nominatim) as url:
        yield url


@pytest.fixture(autouse=True)
def clock(app):
    app.config["CLOCK"] = lambda: datetime(2030, 1, 15, 9)


def test_worker_geocodes_both_addresses_and_notes_it(app, world, orders, sql, nominatim):
    app.config["GEOCODER_URL"] = nominatim
    order = orders.place(world.alice, pickup_address="12 Market Street, Springfield")
    assert order_row(sql, order["order_id"])["geocode_status"] == "pending"
    assert worker.drain(app) >= 1
    row = order_row(sql, order["order_id"])
    assert row["geocode_status"] == "done"
    assert (float(row["pickup_latitude"]), float(row["pickup_longitude"])) == (40.715, -74.009)
    assert (float(row["delivery_latitude"]), float(row["delivery_longitude"])) == (40.742, -73.989)
    (note,) = events(sql, order["order_id"], "note")
    assert note["actor_role"] == "system" and note["status"] == "Pending"
    assert note["note"] == "Geocoded: Pickup at 40.715000, -74.009000; Delivery at 40.742000, -73.989000"
    assert set(Nominatim.queries) == {"12 Market Street, Springfield", "1 Delivery Road"}
    assert worker.drain(app) == 0  # nothing pending any more


def test_address_not_found_is_noted_and_stays_unroutable(app, client, world, orders, sql, nominatim):
    app.config["GEOCODER_URL"] = nominatim
    order = orders.place(
        world.alice, pickup_address="12 Market Street, Springfield", delivery_address="Nowhere 9"
    )
    worker.drain(app)
    row = order_row(sql, order["order_id"])
    assert row["geocode_status"] == "failed" and row["delivery_latitude"] is None
    assert float(row["pickup_latitude"]) == 40.715
    assert events(sql, order["order_id"], "note")[0]["note"].endswith("Delivery address not found")


def test_given_coordinates_are_not_geocoded(app, world, orders, sql, nominatim):
    app.config["GEOCODER_URL"] = nominatim
    order = orders.place(
        world.alice, pickup_latitude=1, pickup_longitude=2, delivery_latitude=3, delivery_longitude=4
    )
    assert order_row(sql, order["order_id"])["geocode_status"] is None
    worker.drain(app)
    assert Nominatim.queries == [] and events(sql, order["order_id"], "note") == []


def test_without_geocoder_orders_stay_without_coordinates(app, world, orders, sql):
    order = orders.place(world.alice)
    assert order_row(sql, order["order_id"])["geocode_status"] is None
    worker.drain(app)
    assert order_row(sql, order["order_id"])["pickup_latitude"] is None


def test_geocoder_outage_leaves_orders_pending(app, world, orders, sql):
    app.config.update(GEOCODER_URL="http://127.0.0.1:9", GEOCODER_TIMEOUT_SECONDS=1)
    order = orders.place(world.alice)
    worker.drain(app)
    assert order_row(sql, order["order_id"])["geocode_status"] == "pending"
    assert events(sql, order["order_id"], "note") == []
