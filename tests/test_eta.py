"""ETAs through the HTTP API with a controllable clock: the ETA follows the courier, the window comes from
measured history, arrival fires once at the radius, late risk sets and clears, and the accuracy figures
equal a hand-computed fixture."""

from datetime import UTC, datetime, timedelta

import pytest
from helpers import assert_error, events

from courier import routing

DEST = (40.7200, -73.9900)  # the delivery point of the orders below
SPEED_MS = 25.0 / 3.6  # ROUTING_SPEED_KMH
DETOUR = 1.3  # ROUTING_DETOUR_FACTOR
SERVICE = 120  # DISPATCH_SERVICE_SECONDS


class Clock:
    def __init__(self):
        self.now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(app, clock):
    app.config.update(
        CLOCK=clock,
        POSITION_MAX_SPEED_KMH=100_000,  # these pings teleport on purpose
        ROUTING_URL="",
        ROUTING_SPEED_KMH=25.0,
        ROUTING_DETOUR_FACTOR=DETOUR,
        DISPATCH_SERVICE_SECONDS=SERVICE,
        ETA_NOTIFY_MINUTES=5.0,
        ETA_HISTORY_SIZE=500,
        ETA_HISTORY_MIN=20,
        ETA_DEFAULT_EARLY_MINUTES=10.0,
        ETA_DEFAULT_LATE_MINUTES=15.0,
        ARRIVAL_RADIUS_M=100.0,
        SLA_HOURS=48.0,
        SMTP_HOST="",
        SMS_PROVIDER="",
    )
    return app


def iso(moment):
    return moment.isoformat(timespec="seconds") + "Z"


def parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def travel(frm, to):
    """Seconds from `frm` to `to` in the dispatch model (straight line x detour at the average speed)."""
    return round(routing.haversine_m(*frm, *to) * DETOUR / SPEED_MS)


def north_of(point, metres):
    return (point[0] + metres / 111_195.0, point[1])


def out_for_delivery(orders, world, **body):
    body = {"delivery_latitude": DEST[0], "delivery_longitude": DEST[1], **body}
    order = orders.place(world.alice, **body)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    return order


def ping(client, courier, point):
    response = client.patch(
        "/delivery/update-location",
        json={"latitude": round(point[0], 6), "longitude": round(point[1], 6)},
        headers=courier.headers,
    )
    assert response.status_code == 200, response.get_json()


def customer_eta(client, world, order_id):
    response = client.get(f"/customer/track-order/{order_id}", headers=world.alice.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["eta"], body["eta_reason"]


def public_eta(client, tracking_number):
    response = client.get(f"/track/{tracking_number}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["eta"], body["eta_reason"]


def eta_row(sql, order_id):
    return sql("SELECT * FROM order_etas WHERE order_id = %s", (order_id,), one=True)


# --------------------------------------------------------------------------------------------
# The ETA and its window
# --------------------------------------------------------------------------------------------


def test_eta_follows_the_courier_on_both_tracking_endpoints(client, world, orders, sql, clock):
    order = out_for_delivery(orders, world)
    assert customer_eta(client, world, order["order_id"]) == (None, "no_position")

    start = north_of(DEST, 5000)
    ping(client, world.dave, start)
    eta, reason = customer_eta(client, world, order["order_id"])
    assert reason is None
    expected = clock.now + timedelta(seconds=travel(start, DEST))
    assert set(eta) == {"expected", "earliest", "latest", "stops_before", "updated_at"}
    assert abs((parse(eta["expected"]) - expected).total_seconds()) <= 1
    # No history yet: the documented default window, 10 minutes before to 15 after.
    assert parse(eta["earliest"]) == parse(eta["expected"]) - timedelta(minutes=10)
    assert parse(eta["latest"]) == parse(eta["expected"]) + timedelta(minutes=15)
    assert eta["stops_before"] == 0 and parse(eta["updated_at"]) == clock.now
    assert public_eta(client, order["tracking_number"]) == (eta, None)
    first = parse(eta["expected"])
    assert count_eta_events(sql, order["order_id"]) == 0  # the first ETA is not a move

    # Five minutes later the courier is 1 km away: the ETA moves more than ETA_NOTIFY_MINUTES earlier.
    clock.advance(minutes=5)
    near = north_of(DEST, 1000)
    ping(client, world.dave, near)
    eta, _ = public_eta(client, order["tracking_number"])
    moved = parse(eta["expected"])
    assert abs((moved - (clock.now + timedelta(seconds=travel(near, DEST)))).total_seconds()) <= 1
    assert moved < first - timedelta(minutes=5)
    assert count_eta_events(sql, order["order_id"]) == 1  # the live streams send it as `event: eta`

    # A small move (well under five minutes of difference) sends no new eta event.
    clock.advance(seconds=30)
    ping(client, world.dave, north_of(DEST, 950))
    assert count_eta_events(sql, order["order_id"]) == 1


def count_eta_events(sql, order_id):
    return len(events(sql, order_id, "eta"))


def test_stops_before_and_service_time_follow_the_order_of_assignment(client, world, orders, clock):
    first = out_for_delivery(orders, world)
    second_point = north_of(DEST, -2000)
    second = out_for_delivery(
        orders, world, delivery_latitude=second_point[0], delivery_longitude=second_point[1]
    )
    start = north_of(DEST, 3000)
    ping(client, world.dave, start)
    eta1, _ = customer_eta(client, world, first["order_id"])
    eta2, _ = customer_eta(client, world, second["order_id"])
    assert eta1["stops_before"] == 0 and eta2["stops_before"] == 1
    expected2 = clock.now + timedelta(seconds=travel(start, DEST) + SERVICE + travel(DEST, second_point))
    assert abs((parse(eta2["expected"]) - expected2).total_seconds()) <= 2


def test_order_without_coordinates_has_no_eta_and_says_why(client, world, orders):
    order = orders.place(world.alice)
    assert customer_eta(client, world, order["order_id"]) == (None, "not_assigned")
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    ping(client, world.dave, DEST)
    assert customer_eta(client, world, order["order_id"]) == (None, "no_coordinates")
    assert public_eta(client, order["tracking_number"]) == (None, "no_coordinates")


def test_unknown_tracking_number_and_someone_elses_order(client, world, orders):
    assert_error(client.get("/track/NOPE-NOT-A-NUMBER"), 404)
    order = out_for_delivery(orders, world)
    assert_error(client.get(f"/customer/track-order/{order['order_id']}", headers=world.bob.headers), 404)
    assert_error(client.get(f"/customer/track-order/{order['order_id']}"), 401)


def seed_history(sql, errors, first=0):
    """Delivered orders' measured errors (actual - predicted, seconds), newest last."""
    base = datetime(2026, 1, 1)
    for i, error in enumerate(errors, start=first):
        sql(
            "INSERT INTO order_etas (order_id, updated_at, delivered_at, error_seconds, abs_error_seconds)"
            " VALUES (%s, %s, %s, %s, %s)",
            (900_000 + i, base, base + timedelta(minutes=i), error, abs(error)),
        )


def window(eta):
    return parse(eta["expected"]) - parse(eta["earliest"]), parse(eta["latest"]) - parse(eta["expected"])


def test_window_comes_from_history_and_widens_with_worse_history(app, client, world, orders, sql, clock):
    app.config["ETA_HISTORY_SIZE"] = 20  # the last 20 deliveries make the window
    order = out_for_delivery(orders, world)
    # 20 deliveries within +-2 minutes: the window is their 10th..90th percentile.
    seed_history(sql, [(-120 + 12 * i) for i in range(20)])
    ping(client, world.dave, north_of(DEST, 3000))
    eta, _ = customer_eta(client, world, order["order_id"])
    early, late = window(eta)
    assert timedelta(seconds=90) <= early <= timedelta(seconds=120)
    assert timedelta(seconds=80) <= late <= timedelta(seconds=120)

    # 20 newer, much worse deliveries (+-30 minutes): the window widens.
    seed_history(sql, [(-1800 + 180 * i) for i in range(20)], first=20)
    clock.advance(seconds=10)
    ping(client, world.dave, north_of(DEST, 2990))
    eta, _ = customer_eta(client, world, order["order_id"])
    wider_early, wider_late = window(eta)
    assert wider_early > early and wider_late > late
    assert wider_early >= timedelta(minutes=15) and wider_late >= timedelta(minutes=15)


# --------------------------------------------------------------------------------------------
# Arrival
# --------------------------------------------------------------------------------------------


def register_webhook(client, world, *event_types):
    body = {"url": "http://127.0.0.1:9/hook", "events": list(event_types)}
    response = client.post("/admin/webhooks", json=body, headers=world.admin.headers)
    assert response.status_code == 201, response.get_json()


def queued(sql, event_type, order_id):
    return sql(
        "SELECT payload FROM notifications WHERE channel = 'webhook' AND event_type = %s AND order_id = %s",
        (event_type, order_id),
    )


def test_arrival_fires_once_at_the_radius(client, world, orders, sql, clock):
    register_webhook(client, world, "order.arrived")
    order = out_for_delivery(orders, world)
    ping(client, world.dave, north_of(DEST, 150))  # outside the 100 m radius
    assert events(sql, order["order_id"], "arrived") == []
    clock.advance(minutes=1)
    ping(client, world.dave, north_of(DEST, 90))
    arrived = events(sql, order["order_id"], "arrived")
    assert len(arrived) == 1 and arrived[0]["status"] == "Out for Delivery"
    assert len(queued(sql, "order.arrived", order["order_id"])) == 1
    assert eta_row(sql, order["order_id"])["arrived_at"] == clock.now
    eta, _ = public_eta(client, order["tracking_number"])
    assert parse(eta["expected"]) == clock.now and eta["stops_before"] == 0
    clock.advance(minutes=1)
    ping(client, world.dave, north_of(DEST, 10))  # still there: no second arrival
    assert len(events(sql, order["order_id"], "arrived")) == 1
    assert len(queued(sql, "order.arrived", order["order_id"])) == 1
    timeline = client.get(f"/track/{order['tracking_number']}").get_json()["events"]
    assert [e["type"] for e in timeline].count("arrived") == 1


def test_no_arrival_before_out_for_delivery(client, world, orders, sql):
    order = orders.place(world.alice, delivery_latitude=DEST[0], delivery_longitude=DEST[1])
    orders.assign(world.admin, order["order_id"], world.dave)
    ping(client, world.dave, DEST)
    assert events(sql, order["order_id"], "arrived") == []


# --------------------------------------------------------------------------------------------
# Late risk
# --------------------------------------------------------------------------------------------


def late_list(client, world, value="true"):
    response = client.get(f"/admin/orders?late_risk={value}", headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()
    return [o["order_id"] for o in response.get_json()["orders"]]


def test_late_risk_sets_and_clears(client, world, orders, sql, clock):
    register_webhook(client, world, "order.late_risk")
    window_end = clock.now + timedelta(minutes=30)
    order = out_for_delivery(orders, world, window_end=iso(window_end))
    oid = order["order_id"]
    # 10 km away: about 31 minutes of travel, and the latest ETA (+15 min) is after the window's end.
    ping(client, world.dave, north_of(DEST, 10_000))
    assert late_list(client, world) == [oid]
    assert oid not in late_list(client, world, "false")
    detail = client.get(f"/admin/orders/{oid}", headers=world.admin.headers)
    if detail.status_code == 200:
        assert detail.get_json()["order"]["late_risk"] is True
    sent = queued(sql, "order.late_risk", oid)
    assert len(sent) == 1 and '"latest"' in sent[0]["payload"]
    # Still late on the next ping: no second webhook.
    clock.advance(seconds=30)
    ping(client, world.dave, north_of(DEST, 9_990))
    assert len(queued(sql, "order.late_risk", oid)) == 1
    # The courier is now close: the ETA recovers and the flag clears itself.
    clock.advance(minutes=1)
    ping(client, world.dave, north_of(DEST, 500))
    assert late_list(client, world) == []
    assert oid in late_list(client, world, "false")
    assert sql("SELECT late_risk FROM orders WHERE order_id = %s", (oid,), one=True)["late_risk"] == 0


def test_late_risk_without_a_window_uses_the_sla(app, client, world, orders, clock):
    app.config["SLA_HOURS"] = 0.1  # six minutes after placement
    order = out_for_delivery(orders, world)
    ping(client, world.dave, north_of(DEST, 10_000))
    assert late_list(client, world) == [order["order_id"]]


def test_late_risk_filter_bad_input_and_roles(client, world):
    assert_error(client.get("/admin/orders?late_risk=maybe", headers=world.admin.headers), 400)
    assert_error(client.get("/admin/orders?late_risk=true"), 401)
    assert_error(client.get("/admin/orders?late_risk=true", headers=world.alice.headers), 403)


# --------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------


def test_accuracy_of_a_delivery_equals_the_hand_computed_figures(client, world, orders, sql, clock):
    order = out_for_delivery(orders, world)
    oid = order["order_id"]
    start = north_of(DEST, 5000)
    ping(client, world.dave, start)
    first = clock.now + timedelta(seconds=travel(start, DEST))
    clock.advance(minutes=4)
    last_point = north_of(DEST, 3000)
    ping(client, world.dave, last_point)
    last = clock.now + timedelta(seconds=travel(last_point, DEST))
    # The courier is slower than predicted: arrives 25 minutes after the last ping.
    clock.advance(minutes=25)
    ping(client, world.dave, north_of(DEST, 50))
    arrival = clock.now
    clock.advance(minutes=2)
    orders.move(world.dave, oid, "Delivered")
    row = eta_row(sql, oid)
    assert abs((row["first_expected"] - first).total_seconds()) <= 1
    assert abs((row["last_expected"] - last).total_seconds()) <= 1
    assert row["error_seconds"] == int((arrival - row["last_expected"]).total_seconds())
    assert row["abs_error_seconds"] == abs(row["error_seconds"])
    # The window was last - 10 min .. last + 15 min; arrival is later than that.
    assert row["in_window"] == (arrival <= row["last_expected"] + timedelta(minutes=15))
    assert row["delivered_at"] == clock.now
    assert customer_eta(client, world, oid) == (None, "final")


def test_route_order_decides_stops_before(client, world, orders, sql, clock):
    far_point = north_of(DEST, -4000)
    far = out_for_delivery(orders, world, delivery_latitude=far_point[0], delivery_longitude=far_point[1])
    near = out_for_delivery(orders, world)
    ping(client, world.dave, north_of(DEST, 500))
    # No route: the order of assignment (the far one first).
    assert customer_eta(client, world, near["order_id"])[0]["stops_before"] == 1
    # The courier re-optimises: the near stop comes first and the ETAs follow at once.
    response = client.post("/delivery/route/optimize", headers=world.dave.headers)
    assert response.status_code == 200, response.get_json()
    stops = [s["order_id"] for s in response.get_json()["route"]["stops"] if s["type"] == "delivery"]
    assert stops == [near["order_id"], far["order_id"]]
    assert customer_eta(client, world, near["order_id"])[0]["stops_before"] == 0
    assert customer_eta(client, world, far["order_id"])[0]["stops_before"] == 1


# --------------------------------------------------------------------------------------------
# The analytics eta block
# --------------------------------------------------------------------------------------------


def test_analytics_eta_block_equals_a_hand_computed_fixture(client, world, sql):
    day = datetime(2025, 5, 10, 12, 0)
    # (courier, error seconds, inside the window): Dave 5 deliveries, Erin 2, one outside the range.
    fixture = [
        (world.dave.id, -60, 1),
        (world.dave.id, 120, 1),
        (world.dave.id, 300, 0),
        (world.dave.id, -30, 1),
        (world.dave.id, 900, 0),
        (world.erin.id, 45, 1),
        (world.erin.id, -600, 0),
    ]
    for i, (courier, error, inside) in enumerate(fixture):
        sql(
            "INSERT INTO order_etas (order_id, delivery_person_id, updated_at, delivered_at, error_seconds,"
            " abs_error_seconds, in_window) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (800_000 + i, courier, day, day + timedelta(minutes=i), error, abs(error), inside),
        )
    sql(
        "INSERT INTO order_etas (order_id, delivery_person_id, updated_at, delivered_at, error_seconds,"
        " abs_error_seconds, in_window) VALUES (799999, %s, %s, %s, 5000, 5000, 0)",
        (world.dave.id, day, day - timedelta(days=40)),
    )
    response = client.get("/admin/analytics?from=2025-05-01&to=2025-05-31", headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()
    block = response.get_json()["eta"]
    # All 7 |errors| sorted: 30 45 60 120 300 600 900 -> median (rank 4) 120, p90 (rank 7) 900; 4/7 inside.
    assert {k: v for k, v in block.items() if k != "couriers"} == {
        "count": 7,
        "median_abs_error_seconds": 120,
        "p90_abs_error_seconds": 900,
        "inside_window_share": round(4 / 7, 4),
    }
    # Dave: 30 60 120 300 900 -> median (rank 3) 120, p90 (rank 5) 900, 3/5. Erin: 45 600 -> 45, 600, 1/2.
    assert block["couriers"] == [
        {
            "delivery_person_id": world.dave.id,
            "count": 5,
            "median_abs_error_seconds": 120,
            "p90_abs_error_seconds": 900,
            "inside_window_share": 0.6,
        },
        {
            "delivery_person_id": world.erin.id,
            "count": 2,
            "median_abs_error_seconds": 45,
            "p90_abs_error_seconds": 600,
            "inside_window_share": 0.5,
        },
    ]
    assert_error(client.get("/admin/analytics", headers=world.dave.headers), 403)


# --------------------------------------------------------------------------------------------
# Arriving soon (opt-in)
# --------------------------------------------------------------------------------------------


def test_arriving_soon_is_opt_in_and_sent_once(app, client, world, orders, sql, clock):
    app.config.update(ARRIVING_SOON_STOPS=1, SMS_PROVIDER="log")
    sql(
        "UPDATE customers SET phone = '+15550002222', notify_sms = 1 WHERE customer_id = %s",
        (world.alice.id,),
    )
    first = out_for_delivery(orders, world)
    second_point = north_of(DEST, -2000)
    second = out_for_delivery(
        orders, world, delivery_latitude=second_point[0], delivery_longitude=second_point[1]
    )
    # Not opted in: nothing, even when the stop is next.
    ping(client, world.dave, north_of(DEST, 3000))
    assert events(sql, first["order_id"], "arriving_soon") == []

    response = client.patch(
        "/customer/preferences", json={"arriving_soon": True}, headers=world.alice.headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["preferences"]["arriving_soon"] is True
    clock.advance(minutes=1)
    ping(client, world.dave, north_of(DEST, 2900))
    # The first order's stop is next (1 stop away): told once; the second is 2 stops away: not yet.
    assert len(events(sql, first["order_id"], "arriving_soon")) == 1
    assert events(sql, second["order_id"], "arriving_soon") == []
    sms = sql(
        "SELECT payload FROM notifications WHERE channel = 'sms' AND event_type = 'order.arriving_soon'"
        " AND order_id = %s",
        (first["order_id"],),
    )
    assert len(sms) == 1 and "nearly there" in sms[0]["payload"]
    clock.advance(minutes=1)
    ping(client, world.dave, north_of(DEST, 2800))
    assert len(events(sql, first["order_id"], "arriving_soon")) == 1
    # The first is delivered: the second's stop is next now.
    orders.move(world.dave, first["order_id"], "Delivered")
    assert len(events(sql, second["order_id"], "arriving_soon")) == 1


def test_arriving_soon_preference_bad_input(client, world):
    response = client.patch(
        "/customer/preferences", json={"arriving_soon": "yes"}, headers=world.alice.headers
    )
    assert_error(response, 400)
    assert_error(client.patch("/customer/preferences", json={"arriving_soon": True}), 401)
    assert_error(
        client.patch("/customer/preferences", json={"arriving_soon": True}, headers=world.dave.headers), 403
    )


def test_an_impossible_jump_changes_no_eta(app, client, world, orders, sql, clock):
    order = out_for_delivery(orders, world)
    ping(client, world.dave, north_of(DEST, 5000))
    before = eta_row(sql, order["order_id"])
    app.config["POSITION_MAX_SPEED_KMH"] = 250
    clock.advance(seconds=1)
    response = client.patch(
        "/delivery/update-location",
        json={"latitude": DEST[0], "longitude": DEST[1]},
        headers=world.dave.headers,
    )
    assert_error(response, 400, "invalid_point")
    assert eta_row(sql, order["order_id"]) == before
    assert events(sql, order["order_id"], "arrived") == []


def test_tracked_order_says_late_risk_as_a_boolean(client, world, orders):
    oid = orders.place(world.alice)["order_id"]
    tracked = client.get(f"/customer/track-order/{oid}", headers=world.alice.headers)
    assert tracked.status_code == 200
    assert tracked.get_json()["order"]["late_risk"] is False
