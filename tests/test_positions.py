"""The position stream: pings and batches write the courier's position and trail, never the timeline;
the order's position derives from its courier while Out for Delivery; old trail points are purged."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from conftest import connect
from helpers import assert_error, count, events, order_row

from courier import positions, worker

NOW = datetime(2026, 6, 1, 12, 0, 0)


@pytest.fixture
def app(app):
    """The suite's app with a fixed clock (courier.positions reads CLOCK)."""
    app.config["CLOCK"] = lambda: NOW
    return app


def iso(moment):
    return moment.isoformat() + "Z"


def point(seconds, lat=48.8566, lng=2.3522):
    """A point `seconds` after NOW (negative: before)."""
    return {"latitude": lat, "longitude": lng, "recorded_at": iso(NOW + timedelta(seconds=seconds))}


def send_batch(client, courier, points):
    return client.post("/delivery/locations", json={"points": points}, headers=courier.headers)


def ping(client, courier, **body):
    return client.patch("/delivery/update-location", json=body, headers=courier.headers)


def trail(sql, courier_id):
    return sql(
        "SELECT latitude, longitude, recorded_at FROM courier_positions WHERE delivery_person_id = %s"
        " ORDER BY recorded_at",
        (courier_id,),
    )


def me(sql, courier):
    return sql(
        "SELECT latitude, longitude, location, position_at FROM delivery_persons WHERE delivery_person_id = %s",
        (courier.id,),
        one=True,
    )


def out_for_delivery(orders, world, customer=None):
    order = orders.place(customer or world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    return order


# --------------------------------------------------------------------------------------------
# A ping: position and trail only
# --------------------------------------------------------------------------------------------


def test_ping_adds_no_timeline_row_and_locks_no_order(client, world, orders, sql):
    order = out_for_delivery(orders, world)
    oid = order["order_id"]
    before = len(events(sql, oid))
    # Another transaction holds the order's row lock for the whole ping: a ping that locked or updated
    # the order would wait (innodb_lock_wait_timeout) and fail.
    holder = connect()
    holder.begin()
    with holder.cursor() as cur:
        cur.execute("SELECT order_id FROM orders WHERE order_id = %s FOR UPDATE", (oid,))
    try:
        started = time.monotonic()
        response = ping(client, world.dave, latitude=48.8566, longitude=2.3522)
        batch = send_batch(client, world.dave, [point(-20), point(-10)])
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 200, response.get_json()
    assert batch.status_code == 200, batch.get_json()
    assert elapsed < 2
    body = response.get_json()
    assert body["order_ids"] == [oid] and body["latest"] is True
    assert len(events(sql, oid)) == before
    assert count(sql, "order_events", "type = 'location'") == 0
    row = order_row(sql, oid)
    assert row["latitude"] is None and row["position_at"] is None and row["location"] is None
    assert len(trail(sql, world.dave.id)) == 3
    mine = me(sql, world.dave)
    assert float(mine["latitude"]) == 48.8566 and mine["position_at"] == NOW


def test_typed_location_is_a_timeline_event(client, world, orders, sql):
    order = out_for_delivery(orders, world)
    response = ping(client, world.dave, latitude=48.8566, longitude=2.3522, location="Rue de Rivoli")
    assert response.status_code == 200
    new = events(sql, order["order_id"], "location")
    assert len(new) == 1 and new[0]["location"] == "Rue de Rivoli"
    assert new[0]["status"] == "Out for Delivery" and float(new[0]["latitude"]) == 48.8566
    assert order_row(sql, order["order_id"])["location"] == "Rue de Rivoli"


def test_order_position_derives_from_its_courier_only_while_out_for_delivery(client, world, orders, sql):
    order = orders.place(world.alice)
    oid = order["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up")
    assert ping(client, world.dave, latitude=48.8566, longitude=2.3522).status_code == 200
    view = client.get(f"/customer/track-order/{oid}", headers=world.alice.headers).get_json()
    assert view["last_position"] is None and view["trail"] == []
    public = client.get(f"/track/{order['tracking_number']}").get_json()
    assert public["position"] is None
    orders.move(world.dave, oid, "Out for Delivery")
    later = {"latitude": 48.856644, "longitude": 2.352244, "recorded_at": iso(NOW + timedelta(seconds=5))}
    assert ping(client, world.dave, **later).status_code == 200
    view = client.get(f"/customer/track-order/{oid}", headers=world.alice.headers).get_json()
    assert view["last_position"]["latitude"] == 48.856644
    public = client.get(f"/track/{order['tracking_number']}").get_json()
    assert public["position"]["latitude"] == 48.857 and public["position"]["longitude"] == 2.352
    assert "48.856644" not in str(public)


def test_ping_recorded_at_is_accepted_and_checked(client, world, sql):
    earlier = iso(NOW - timedelta(minutes=5))
    assert ping(client, world.dave, latitude=1.0, longitude=2.0, recorded_at=earlier).status_code == 200
    assert trail(sql, world.dave.id)[0]["recorded_at"] == NOW - timedelta(minutes=5)
    future = iso(NOW + timedelta(minutes=5))
    body = assert_error(ping(client, world.dave, latitude=1.0, longitude=2.0, recorded_at=future), 400)
    assert "recorded_at" in body["fields"]
    body = assert_error(ping(client, world.dave, latitude=1.0, longitude=2.0, recorded_at="yesterday"), 400)
    assert "recorded_at" in body["fields"]
    assert len(trail(sql, world.dave.id)) == 1
    # Resending the same point stores nothing twice.
    assert ping(client, world.dave, latitude=1.0, longitude=2.0, recorded_at=earlier).status_code == 200
    assert len(trail(sql, world.dave.id)) == 1


# --------------------------------------------------------------------------------------------
# POST /delivery/locations
# --------------------------------------------------------------------------------------------


def test_batch_lands_in_order_with_duplicates_skipped_and_latest_winning(client, world, sql):
    points = [point(-30, 48.8570), point(-50, 48.8566), point(-40, 48.8568), point(-30, 48.8599)]
    response = send_batch(client, world.dave, points)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["received"] == 4 and body["stored"] == 3 and body["duplicates"] == 1
    stored = trail(sql, world.dave.id)
    assert [float(r["latitude"]) for r in stored] == [48.8566, 48.8568, 48.8570]  # first sent wins a tie
    assert [r["recorded_at"] for r in stored] == [NOW - timedelta(seconds=s) for s in (50, 40, 30)]
    assert me(sql, world.dave)["position_at"] == NOW - timedelta(seconds=30)
    assert float(me(sql, world.dave)["latitude"]) == 48.8570

    # The same batch again (an answer lost on the way): nothing new.
    again = send_batch(client, world.dave, points).get_json()
    assert again["stored"] == 0 and again["duplicates"] == 4 and again["latest_recorded_at"] is None
    # Older buffered points arrive after a newer one: they join the trail, the position stays.
    older = send_batch(client, world.dave, [point(-90, 48.8560), point(-80, 48.8562)]).get_json()
    assert older["stored"] == 2 and older["latest_recorded_at"] is None
    assert float(me(sql, world.dave)["latitude"]) == 48.8570
    assert [float(r["latitude"]) for r in trail(sql, world.dave.id)][:2] == [48.8560, 48.8562]
    assert count(sql, "order_events", "type = 'location'") == 0


def test_batch_of_500_points(client, world, sql):
    points = [point(-600 + i, 48.85 + i * 0.00001) for i in range(500)]
    response = send_batch(client, world.dave, points)
    assert response.status_code == 200 and response.get_json()["stored"] == 500
    assert count(sql, "courier_positions") == 500
    assert_error(send_batch(client, world.dave, [*points, point(1)]), 400)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: [point(-10), point(-5), point(600)], "points.2.recorded_at"),  # 10 minutes ahead
        (lambda: [point(-10), point(-5, lat=49.8566)], "points.1"),  # 111 km in 5 s
        (lambda: [point(-10), {**point(-5), "latitude": 91}], "points.1.latitude"),
        (lambda: [point(-10), {"latitude": 1, "longitude": 2}], "points.1"),
        (lambda: [{**point(-10), "recorded_at": "not a time"}], "points.0.recorded_at"),
        (lambda: [{**point(-10), "recorded_at": "2026-13-40T99:00:00Z"}], "points.0.recorded_at"),
        (lambda: [{**point(-10), "speed": 3}], "points.0.speed"),
        (lambda: [], "points"),
        (lambda: "nope", "points"),
    ],
)
def test_batch_bad_point_is_400_naming_it_and_stores_nothing(client, world, sql, make, field):
    response = send_batch(client, world.dave, make())
    body = assert_error(response, 400)
    assert field in body["fields"], body
    assert count(sql, "courier_positions") == 0
    assert me(sql, world.dave)["position_at"] is None


def test_batch_jump_is_measured_from_the_stored_point_before_it(client, world, sql):
    assert send_batch(client, world.dave, [point(-60)]).status_code == 200
    body = assert_error(send_batch(client, world.dave, [point(-55, lat=49.8566)]), 400, "invalid_point")
    assert body["index"] == 0 and "points.0" in body["fields"]
    # 1 km in 50 s is 72 km/h: fine.
    assert send_batch(client, world.dave, [point(-10, lat=48.8656)]).status_code == 200


def test_max_speed_is_configurable(app, client, world):
    app.config["POSITION_MAX_SPEED_KMH"] = 50
    assert send_batch(client, world.dave, [point(-60)]).status_code == 200
    assert_error(send_batch(client, world.dave, [point(-10, lat=48.8656)]), 400, "invalid_point")


def test_batch_needs_a_courier_token(client, world, sql):
    body = {"points": [point(-10)]}
    assert_error(client.post("/delivery/locations", json=body), 401)
    for user in (world.alice, world.admin):
        assert_error(client.post("/delivery/locations", json=body, headers=user.headers), 403, "wrong_role")
    assert_error(client.post("/delivery/locations", data="x", headers=world.dave.headers), 400)
    assert count(sql, "courier_positions") == 0


def test_batches_of_two_couriers_stay_apart(client, world, sql):
    assert send_batch(client, world.dave, [point(-10)]).status_code == 200
    assert send_batch(client, world.erin, [point(-10, lat=10.0, lng=10.0)]).status_code == 200
    assert len(trail(sql, world.dave.id)) == 1 and len(trail(sql, world.erin.id)) == 1
    assert float(me(sql, world.erin)["latitude"]) == 10.0


def test_concurrent_batches_of_one_courier_store_each_point_once(app, world, sql):
    points = [point(-100 + i, 48.8566 + i * 0.00001) for i in range(50)]
    codes = []

    def send():
        codes.append(send_batch(app.test_client(), world.dave, points).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert codes == [200] * 4
    assert count(sql, "courier_positions") == 50


# --------------------------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------------------------


def add_points(sql, courier_id, ages_in_days):
    for days in ages_in_days:
        sql(
            "INSERT INTO courier_positions (delivery_person_id, latitude, longitude, recorded_at)"
            " VALUES (%s, 1, 2, %s)",
            (courier_id, NOW - timedelta(days=days, seconds=1)),
        )


def test_purge_deletes_only_old_rows_in_batches(app, world, sql):
    add_points(sql, world.dave.id, [45, 40, 31, 30.5, 29, 1, 0])
    with app.app_context():
        assert positions.purge(batch=2) == 4
    left = sql("SELECT recorded_at FROM courier_positions ORDER BY recorded_at")
    assert [r["recorded_at"] for r in left] == [NOW - timedelta(days=d, seconds=1) for d in (29, 1, 0)]
    with app.app_context():
        assert positions.purge(batch=2) == 0
        assert positions.purge(days=1) == 2


def test_purge_positions_command(app, world, sql):
    add_points(sql, world.dave.id, [60, 2])
    app.config["POSITION_RETENTION_DAYS"] = 30
    result = app.test_cli_runner().invoke(args=["purge-positions"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 trail point(s)" in result.output
    assert count(sql, "courier_positions") == 1
    result = app.test_cli_runner().invoke(args=["purge-positions", "--days", "1", "--batch", "1"])
    assert result.exit_code == 0 and "Deleted 1 trail point(s)" in result.output
    assert count(sql, "courier_positions") == 0


def test_worker_purges_once_a_day(app, world, sql):
    add_points(sql, world.dave.id, [40])
    ran = worker.purge_if_due(app, None, clock=lambda: 1000.0)
    assert ran == 1000.0 and count(sql, "courier_positions") == 0
    add_points(sql, world.dave.id, [40])
    assert worker.purge_if_due(app, ran, clock=lambda: 1000.0 + 3600) == ran
    assert count(sql, "courier_positions") == 1
    assert worker.purge_if_due(app, ran, clock=lambda: 1000.0 + 86400) == 1000.0 + 86400
    assert count(sql, "courier_positions") == 0
