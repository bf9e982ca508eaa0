"""GET /admin/analytics: exact figures on a small known dataset, ranges and their defaults, errors and roles.

The dataset is built through the API (so the counters the lifecycle and the feedback trigger keep are the
real ones), then moved to known dates with SQL: orders.created_at and closed_at are not event history.
"""

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import assert_error
from jsonschema import Draft202012Validator

from courier import analytics
from courier import db as dbmod
from courier.openapi import RESPONSE_SCHEMAS

URL = "/admin/analytics"
RANGE = "?from=2025-03-01&to=2025-03-03"
ZERO_STATUSES = {
    "Pending": 0,
    "Assigned": 0,
    "Picked Up": 0,
    "In Transit": 0,
    "Out for Delivery": 0,
    "Delivered": 0,
    "Failed Attempt": 0,
    "Returned": 0,
    "Cancelled": 0,
}


def place_at(sql, orders, customer, created, closed=None):
    """Place an order through the API; return a function that moves it to its known times afterwards."""
    order = orders.place(customer)
    oid = order["order_id"]

    def settle():
        sql(
            "UPDATE orders SET created_at = %s, closed_at = IF(closed_at IS NULL, NULL, %s) WHERE order_id = %s",
            (created, closed, oid),
        )

    return oid, settle


def feedback(client, customer, oid, rating=None):
    body = {"order_id": oid, "feedback": "Thanks"} | ({"rating": rating} if rating is not None else {})
    response = client.post("/customer/feedback", json=body, headers=customer.headers)
    assert response.status_code == 201, response.get_json()


def issue(client, sql, admin, user, created, status=None):
    response = client.post("/raise-issue", json={"message": "Where is it?"}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    issue_id = response.get_json()["issue"]["issue_id"]
    if status:
        answer = {"issue_id": issue_id, "status": status}
        assert client.patch("/admin/issues", json=answer, headers=admin.headers).status_code == 200
    sql("UPDATE issues SET created_at = %s WHERE issue_id = %s", (created, issue_id))
    return issue_id


@pytest.fixture
def dataset(client, world, orders, sql):
    """Eight orders created 1 to 3 March 2025 (none on the 2nd), two outside, issues and feedback.

    dave: A Delivered in 1 h (rating 5), B Delivered in 2 h after one failed attempt (rating 3),
          G two failed attempts and still Failed Attempt; X Delivered on 28 February (outside, rating 1).
    erin: C Delivered in 30 min (feedback without a rating), D one failed attempt then Returned,
          I Assigned.  No courier: E Cancelled, F Pending; Y Pending on 4 March (outside).
    """
    w, ids, settle = world, {}, []

    def make(name, customer, created, closed=None):
        ids[name], fix = place_at(sql, orders, customer, created, closed)
        settle.append(fix)
        return ids[name]

    def carry(name, courier, *path):
        orders.assign(w.admin, ids[name], courier)
        if path:
            orders.move(courier, ids[name], *path)

    make("A", w.alice, "2025-03-01 10:00:00", "2025-03-01 11:00:00")
    carry("A", w.dave, "Picked Up", "Out for Delivery", "Delivered")
    make("B", w.alice, "2025-03-01 12:00:00", "2025-03-01 14:00:00")
    carry("B", w.dave, "Picked Up", "Out for Delivery", "Failed Attempt", "Out for Delivery", "Delivered")
    make("G", w.alice, "2025-03-01 13:00:00")
    carry(
        "G", w.dave, "Picked Up", "Out for Delivery", "Failed Attempt", "Out for Delivery", "Failed Attempt"
    )
    make("X", w.alice, "2025-02-28 23:59:59.999999", "2025-03-01 01:00:00")
    carry("X", w.dave, "Picked Up", "Out for Delivery", "Delivered")
    make("C", w.bob, "2025-03-03 08:00:00", "2025-03-03 08:30:00")
    carry("C", w.erin, "Picked Up", "In Transit", "Out for Delivery", "Delivered")
    make("D", w.bob, "2025-03-03 09:00:00", "2025-03-04 09:00:00")
    carry("D", w.erin, "Picked Up", "Out for Delivery", "Failed Attempt", "Returned")
    make("I", w.bob, "2025-03-03 12:00:00")
    carry("I", w.erin)
    make("E", w.bob, "2025-03-03 10:00:00", "2025-03-03 10:05:00")
    assert client.post(f"/customer/cancel-order/{ids['E']}", headers=w.bob.headers).status_code == 200
    make("F", w.alice, "2025-03-03 23:59:59.999999")
    make("Y", w.alice, "2025-03-04 00:00:00")
    for fix in settle:
        fix()
    # Feedback after the dates are known: the trigger copies the order's creation time and courier.
    feedback(client, w.alice, ids["A"], 5)
    feedback(client, w.alice, ids["B"], 3)
    feedback(client, w.bob, ids["C"])
    feedback(client, w.alice, ids["X"], 1)
    issue(client, sql, w.admin, w.alice, "2025-03-01 09:00:00")
    issue(client, sql, w.admin, w.dave, "2025-03-02 09:00:00", "In Progress")
    issue(client, sql, w.admin, w.bob, "2025-03-03 09:00:00", "Resolved")
    issue(client, sql, w.admin, w.bob, "2025-02-01 09:00:00", "Closed")
    issue(client, sql, w.admin, w.alice, "2025-05-01 09:00:00")
    return ids


def get(client, admin, query=""):
    """The answer, checked against its documented schema (the web console relies on that shape)."""
    response = client.get(URL + query, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    Draft202012Validator(RESPONSE_SCHEMAS["Analytics"]).validate(body)
    return body


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def test_figures_on_a_known_dataset(client, world, dataset):
    body = get(client, world.admin, RANGE)
    assert list(body) == [
        "from",
        "to",
        "orders",
        "orders_per_day",
        "delivery_rate",
        "first_attempt_success_rate",
        "delivery_time",
        "couriers",
        "issues",
        "feedback",
        "eta",
    ]
    assert body["from"] == "2025-03-01T00:00:00.000Z" and body["to"] == "2025-03-03T23:59:59.999Z"
    assert body["orders"] == {
        "total": 8,
        "by_status": ZERO_STATUSES
        | {"Pending": 1, "Assigned": 1, "Delivered": 3, "Failed Attempt": 1, "Returned": 1, "Cancelled": 1},
    }
    assert body["orders_per_day"] == [
        {"date": "2025-03-01", "orders": 3, "delivered": 2},
        {"date": "2025-03-02", "orders": 0, "delivered": 0},
        {"date": "2025-03-03", "orders": 5, "delivered": 1},
    ]
    assert body["delivery_rate"] == 0.6  # 3 Delivered of 5 closed (3 + 1 Returned + 1 Cancelled)
    # A and C delivered at the first attempt, of A, B, C (delivered) and D, G (failed attempts).
    assert body["first_attempt_success_rate"] == 0.4
    # 1 h, 2 h and 30 min: mean 70 min; the 90th percentile (nearest rank: the 3rd of 3) is 2 h.
    assert body["delivery_time"] == {"delivered": 3, "average_seconds": 4200.0, "p90_seconds": 7200.0}
    assert body["couriers"] == [
        {
            "delivery_person_id": world.dave.id,
            "name": world.dave.name,
            "delivered": 2,
            "failed_attempts": 3,
            "average_delivery_seconds": 5400.0,
            "rating": 4.0,
            "ratings": 2,
        },
        {
            "delivery_person_id": world.erin.id,
            "name": world.erin.name,
            "delivered": 1,
            "failed_attempts": 1,
            "average_delivery_seconds": 1800.0,
            "rating": None,
            "ratings": 0,
        },
    ]
    assert body["issues"] == {
        "by_status": {"Open": 1, "In Progress": 1, "Resolved": 1, "Closed": 0},
        "open": 3,  # Open or In Progress now, of any date: the one from May counts too
    }
    assert body["feedback"] == {"ratings": 2, "average_rating": 4.0}


def test_stored_counters_behind_the_figures(client, world, dataset, sql):
    """set_status counts failed attempts; the feedback trigger copies the order's creation time and courier."""
    rows = {
        row["order_id"]: row
        for row in sql(
            "SELECT order_id, failed_attempts, created_at FROM orders WHERE order_id IN %s",
            (list(dataset.values()),),
        )
    }
    assert {name: rows[oid]["failed_attempts"] for name, oid in dataset.items()} == {
        "A": 0, "B": 1, "G": 2, "X": 0, "C": 0, "D": 1, "I": 0, "E": 0, "F": 0, "Y": 0,
    }  # fmt: skip
    stored = sql(
        "SELECT order_id, rating, order_created_at, delivery_person_id FROM feedback ORDER BY order_id"
    )
    assert [(r["order_id"], r["rating"], r["delivery_person_id"]) for r in stored] == sorted(
        [
            (dataset["A"], 5, world.dave.id),
            (dataset["B"], 3, world.dave.id),
            (dataset["X"], 1, world.dave.id),
            (dataset["C"], None, world.erin.id),
        ]
    )
    assert all(r["order_created_at"] == rows[r["order_id"]]["created_at"] for r in stored)


def test_a_date_time_range_cuts_inside_a_day(client, world, dataset):
    body = get(client, world.admin, "?from=2025-03-01T12:00:00Z&to=2025-03-01T13:00:00%2B00:00")
    assert body["orders"]["total"] == 2  # B at 12:00 and G at 13:00, both bounds included
    assert body["orders"]["by_status"]["Delivered"] == 1
    assert body["orders_per_day"] == [{"date": "2025-03-01", "orders": 2, "delivered": 1}]
    assert body["delivery_time"] == {"delivered": 1, "average_seconds": 7200.0, "p90_seconds": 7200.0}
    # G's failed attempts count although it is not closed: a rate of delivered without failure is 0 of 2.
    assert body["first_attempt_success_rate"] == 0.0
    assert body["delivery_rate"] == 1.0
    offset = get(client, world.admin, "?from=2025-03-01T13:00:00%2B01:00&to=2025-03-01T12:30:00Z")
    assert offset["from"] == "2025-03-01T12:00:00.000Z" and offset["orders"]["total"] == 1


def test_an_empty_range_gives_zeros_and_nulls(client, world, dataset):
    body = get(client, world.admin, "?from=2020-01-01&to=2020-01-02")
    assert body["orders"] == {"total": 0, "by_status": ZERO_STATUSES}
    assert body["orders_per_day"] == [
        {"date": "2020-01-01", "orders": 0, "delivered": 0},
        {"date": "2020-01-02", "orders": 0, "delivered": 0},
    ]
    assert body["delivery_rate"] is None and body["first_attempt_success_rate"] is None
    assert body["delivery_time"] == {"delivered": 0, "average_seconds": None, "p90_seconds": None}
    assert body["couriers"] == []
    assert body["issues"] == {
        "by_status": {"Open": 0, "In Progress": 0, "Resolved": 0, "Closed": 0},
        "open": 3,
    }
    assert body["feedback"] == {"ratings": 0, "average_rating": None}


def test_an_empty_database(client, world):
    body = get(client, world.admin)
    assert body["orders"]["total"] == 0 and body["couriers"] == [] and body["issues"]["open"] == 0
    assert len(body["orders_per_day"]) == 30
    assert all(day["orders"] == 0 for day in body["orders_per_day"])


def test_default_range_is_the_30_days_up_to_now(client, world, orders):
    before = datetime.now(UTC).replace(tzinfo=None)
    orders.place(world.alice)
    body = get(client, world.admin)
    after = datetime.now(UTC).replace(tzinfo=None)
    start = datetime.combine(before.date() - timedelta(days=29), datetime.min.time())
    assert body["from"] == start.isoformat(timespec="milliseconds") + "Z"
    to = datetime.fromisoformat(body["to"].rstrip("Z"))
    assert before - timedelta(milliseconds=1) <= to <= after
    days = body["orders_per_day"]
    assert len(days) == 30 and days[0]["date"] == start.date().isoformat()
    assert days[-1] == {"date": to.date().isoformat(), "orders": 1, "delivered": 0}
    assert body["orders"]["by_status"]["Pending"] == 1


def test_only_to_given_means_the_30_days_ending_that_day(client, world, dataset):
    body = get(client, world.admin, "?to=2025-03-03")
    assert body["from"] == "2025-02-02T00:00:00.000Z"
    assert len(body["orders_per_day"]) == 30
    assert body["orders"]["total"] == 9  # the eight, and X on 28 February
    assert body["feedback"] == {"ratings": 3, "average_rating": 3.0}


def test_a_range_longer_than_a_month_is_read_a_month_at_a_time(client, world, dataset, sql):
    """Statements read 31 days at most: 29 January to 31 March takes two of them, and the results merge.

    X (28 February) falls in the first month and A, B, G (1 March) in the second, both Dave's; an order
    placed exactly at the boundary (1 March, midnight) counts once.
    """
    sql(
        "INSERT INTO orders (tracking_number, customer_id, pickup_address, delivery_address, recipient_name,"
        " created_at) VALUES ('CTEDGE', %s, 'P', 'D', 'R', '2025-03-01 00:00:00')",
        (world.alice.id,),
    )
    body = get(client, world.admin, "?from=2025-01-29&to=2025-03-31")
    assert body["orders"] == {
        "total": 11,
        "by_status": ZERO_STATUSES
        | {"Pending": 3, "Assigned": 1, "Delivered": 4, "Failed Attempt": 1, "Returned": 1, "Cancelled": 1},
    }
    assert len(body["orders_per_day"]) == 62
    days = {day["date"]: (day["orders"], day["delivered"]) for day in body["orders_per_day"]}
    assert days["2025-02-28"] == (1, 1) and days["2025-03-01"] == (4, 2) and days["2025-03-04"] == (1, 0)
    assert sum(orders for orders, _ in days.values()) == 11
    assert body["delivery_rate"] == 0.6667 and body["first_attempt_success_rate"] == 0.5
    assert body["delivery_time"] == {"delivered": 4, "average_seconds": 4050.0, "p90_seconds": 7200.0}
    dave = body["couriers"][0]
    assert dave == {
        "delivery_person_id": world.dave.id,
        "name": world.dave.name,
        "delivered": 3,
        "failed_attempts": 3,
        "average_delivery_seconds": 4800.0,
        "rating": 3.0,
        "ratings": 3,
    }
    assert [c["delivery_person_id"] for c in body["couriers"]] == [world.dave.id, world.erin.id]
    assert body["feedback"] == {"ratings": 3, "average_rating": 3.0}
    assert body["issues"]["by_status"] == {"Open": 1, "In Progress": 1, "Resolved": 1, "Closed": 1}
    pieces = list(analytics._chunks(datetime(2025, 1, 29), datetime(2025, 3, 31, 23, 59, 59, 999999)))
    assert pieces == [
        (datetime(2025, 1, 29), datetime(2025, 3, 1)),
        (datetime(2025, 3, 1), datetime(2025, 4, 1)),
    ]


def test_a_leap_year_fits_and_a_longer_range_does_not(client, world):
    body = get(client, world.admin, "?from=2024-01-01&to=2024-12-31")
    assert len(body["orders_per_day"]) == 366
    assert_error(client.get(URL + "?from=2024-01-01&to=2025-01-02", headers=world.admin.headers), 400)


# --------------------------------------------------------------------------------------------
# The 90th percentile against a brute-force one
# --------------------------------------------------------------------------------------------


def nearest_rank(values, fraction=0.9):
    ordered = sorted(values)
    return ordered[math.ceil(fraction * len(ordered)) - 1]


@pytest.mark.parametrize("count, days", [(1, 7), (2, 7), (10, 7), (11, 7), (240, 7), (240, 90)])
def test_p90_is_exact(client, world, sql, count, days, monkeypatch):
    """Close delivery times (many in one histogram bucket), ties and sub-second parts, over one week or over
    90 days (three month-long statements whose histograms merge)."""
    durations = [3600 + (i * 7919 % 97) + (i % 4) * 0.25 for i in range(count)]
    first = datetime(2025, 6, 1, 8)
    for i, seconds in enumerate(durations):
        created = first + timedelta(days=i % days)
        sql(
            "INSERT INTO orders (tracking_number, customer_id, assigned_to, status, pickup_address,"
            " delivery_address, recipient_name, created_at, closed_at)"
            " VALUES (%s, %s, %s, 'Delivered', 'P', 'D', 'R', %s, %s)",
            (f"CTP90{i:012d}", world.alice.id, world.dave.id, created, created + timedelta(seconds=seconds)),
        )
    calls = []
    real = analytics._nth_in_bucket
    monkeypatch.setattr(analytics, "_nth_in_bucket", lambda *a: calls.append(a) or real(*a))
    last = (first + timedelta(days=days - 1)).date()
    body = get(client, world.admin, f"?from=2025-06-01&to={last}")
    assert body["delivery_time"]["delivered"] == count
    assert body["delivery_time"]["p90_seconds"] == round(nearest_rank(durations), 3)
    assert body["delivery_time"]["average_seconds"] == round(sum(durations) / count, 3)
    assert body["couriers"][0]["delivered"] == count
    if count == 240:
        assert calls, "the percentile fell on a bucket edge: the exact second pass was not exercised"


# --------------------------------------------------------------------------------------------
# Bad input, roles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, field",
    [
        ("?from=yesterday", "from"),
        ("?to=2025-13-01", "to"),
        ("?from=2025-03-01T25:00", "from"),
        ("?from=2025-03-05&to=2025-03-01", "from"),
        ("?from=2025-03-01T12:00:00Z&to=2025-03-01T11:59:59Z", "from"),
        ("?from=2020-01-01&to=2021-01-02", "from"),
        ("?from=2000-01-01", "from"),  # to defaults to now: far more than 366 days
    ],
)
def test_bad_range_is_400(client, world, query, field):
    body = assert_error(client.get(URL + query, headers=world.admin.headers), 400, "invalid_query")
    assert field in body["fields"]


def test_no_token_is_401(client):
    assert_error(client.get(URL), 401, "missing_token")
    assert_error(client.get(URL, headers={"Authorization": "Bearer nope"}), 401)


@pytest.mark.parametrize("role", ["alice", "dave"])
def test_customer_and_courier_get_403(client, world, role):
    assert_error(client.get(URL + RANGE, headers=getattr(world, role).headers), 403, "wrong_role")


# --------------------------------------------------------------------------------------------
# The migration's backfill
# --------------------------------------------------------------------------------------------


def test_migration_backfills_existing_rows(client, world, dataset, sql):
    """Migration 0003 run again over this data restores the counters from the timelines and orders."""
    kept = sql("SELECT order_id, failed_attempts, updated_at FROM orders ORDER BY order_id")
    sql("UPDATE orders SET failed_attempts = 0, updated_at = updated_at")
    sql("UPDATE feedback SET order_created_at = NULL, delivery_person_id = NULL")
    migration = Path(dbmod.MIGRATIONS) / "0003_analytics.sql"
    for statement in dbmod.split_sql(migration.read_text()):
        if statement.lstrip().upper().startswith("UPDATE"):
            sql(statement)
    assert sql("SELECT order_id, failed_attempts, updated_at FROM orders ORDER BY order_id") == kept
    body = get(client, world.admin, RANGE)
    assert body["feedback"] == {"ratings": 2, "average_rating": 4.0}
    assert body["couriers"][0]["failed_attempts"] == 3
