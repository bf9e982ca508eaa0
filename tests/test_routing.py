"""Travel times (straight line, or an OSRM-compatible /table service) and the courier's own route."""

from datetime import datetime
from urllib.parse import urlsplit

import pytest
from helpers import FakeService, assert_error, serving
from test_dispatch import DEPOT_A, DEPOT_B, START, T0, place, set_courier

from courier import routing


class OsrmTable(FakeService):
    """Speaks OSRM's /table/v1/driving/lng,lat;... format: every trip takes 600 s and 5 km."""

    requests = []

    def do_GET(self):
        path = urlsplit(self.path).path
        OsrmTable.requests.append(self.path)
        if not path.startswith("/table/v1/driving/"):
            self.send_response(404)
            self.end_headers()
            return
        n = len(path.removeprefix("/table/v1/driving/").split(";"))
        body = {
            "code": "Ok",
            "durations": [[0 if i == j else 600 for j in range(n)] for i in range(n)],
            "distances": [[0 if i == j else 5000 for j in range(n)] for i in range(n)],
        }
        self.json(body)


@pytest.fixture
def osrm():
    OsrmTable.requests = []
    with serving(OsrmTable) as url:
        yield url


@pytest.fixture
def clock(app):
    app.config["CLOCK"] = lambda: T0
    return T0


def test_straight_line_matrix():
    config = {"ROUTING_SPEED_KMH": 36, "ROUTING_DETOUR_FACTOR": 1.5, "ROUTING_URL": ""}
    durations, distances, source = routing.matrix([(40.0, -74.0), (40.01, -74.0)], config)
    assert source == "straight_line"
    assert 1660 <= distances[0][1] <= 1670 and distances[1][0] == distances[0][1]  # 1.112 km x 1.5
    assert durations[0][1] == round(distances[0][1] / 10)  # 36 km/h = 10 m/s
    assert round(routing.haversine_m(40.0, -74.0, 40.01, -74.0)) == 1112


def test_plan_uses_the_table_service(app, client, world, clock, orders, osrm):
    app.config["ROUTING_URL"] = osrm
    set_courier(client, world.admin, world.dave, DEPOT_A)
    place(orders, world.alice, 1)
    plan = client.post(
        "/admin/dispatch/plans", json={"start_at": START}, headers=world.admin.headers
    ).get_json()
    assert plan["routing"] == "osrm"
    (route,) = plan["routes"]
    assert (route["duration_s"], route["distance_m"]) == (3 * 600, 3 * 5000)  # depot, pickup, delivery, depot
    assert OsrmTable.requests and "annotations=duration,distance" in OsrmTable.requests[0]


def test_unreachable_table_service_falls_back_to_straight_lines(app, client, world, clock, orders):
    app.config.update(ROUTING_URL="http://127.0.0.1:9", ROUTING_TIMEOUT_SECONDS=1)
    set_courier(client, world.admin, world.dave, DEPOT_A)
    place(orders, world.alice, 1)
    response = client.post("/admin/dispatch/plans", json={"start_at": START}, headers=world.admin.headers)
    assert response.status_code == 201 and response.get_json()["routing"] == "straight_line"


def test_courier_route_from_latest_position_then_optimised(client, world, clock, orders, sql):
    set_courier(client, world.admin, world.dave, DEPOT_A)
    first, second = place(orders, world.alice, 1), place(orders, world.alice, 2)
    no_coords = place(orders, world.alice, 3, coords=False)
    for order in (first, second, no_coords):
        orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, second["order_id"], "Picked Up")
    sql(
        "INSERT INTO courier_positions (delivery_person_id, latitude, longitude, created_at, recorded_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (world.dave.id, 40.72, -74.0, T0, T0),
    )
    route = client.get("/delivery/route", headers=world.dave.headers).get_json()["route"]
    assert route["start"] == {"latitude": 40.72, "longitude": -74.0, "source": "position", "at": START}
    stops = [(s["order_id"], s["type"]) for s in route["stops"]]
    assert stops == [
        (first["order_id"], "pickup"),
        (first["order_id"], "delivery"),
        (second["order_id"], "delivery"),
    ]
    etas = [s["eta"] for s in route["stops"]]
    assert etas == sorted(etas) and etas[0] > START
    assert route["unroutable"][0]["order_id"] == no_coords["order_id"]
    assert route["unroutable"][0]["reason"] == "no_coordinates"
    response = client.post("/delivery/route/optimize", headers=world.dave.headers)
    assert response.status_code == 200, response.get_json()
    optimised = response.get_json()["route"]
    assert sorted((s["order_id"], s["type"]) for s in optimised["stops"]) == sorted(stops)
    assert optimised["duration_s"] <= route["duration_s"]
    stored = sql(
        "SELECT order_id, stop_type FROM route_stops WHERE delivery_person_id = %s ORDER BY seq",
        (world.dave.id,),
    )
    assert [(r["order_id"], r["stop_type"]) for r in stored][:3] == [
        (s["order_id"], s["type"]) for s in optimised["stops"]
    ]
    # The stored order is what GET shows from now on; Erin sees none of Dave's stops.
    again = client.get("/delivery/route", headers=world.dave.headers).get_json()["route"]
    assert [(s["order_id"], s["type"]) for s in again["stops"]] == [
        (s["order_id"], s["type"]) for s in optimised["stops"]
    ]
    assert client.get("/delivery/route", headers=world.erin.headers).get_json()["route"]["stops"] == []


def test_route_starts_at_the_depot_without_a_position_today(client, world, clock, orders):
    set_courier(client, world.admin, world.erin, DEPOT_B)
    order = place(orders, world.alice, 1)
    orders.assign(world.admin, order["order_id"], world.erin)
    route = client.get("/delivery/route", headers=world.erin.headers).get_json()["route"]
    assert route["start"]["source"] == "depot" and route["start"]["latitude"] == DEPOT_B[0]
    assert len(route["stops"]) == 2 and datetime.fromisoformat(route["stops"][0]["eta"][:-1]) > T0


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/delivery/route"), ("post", "/delivery/route/optimize")]
)
def test_route_needs_a_courier(client, world, method, path):
    assert_error(getattr(client, method)(path), 401)
    assert_error(getattr(client, method)(path, headers=world.admin.headers), 403)
    assert_error(getattr(client, method)(path, headers=world.alice.headers), 403)
