"""Admin analytics over a date range: order volume, delivery rates and times, couriers, issues and ratings.

Every order figure is about the orders *created* in [from, to] (ratings too: the feedback on those orders).
Each statement reads one range of one covering index, never the table rows, never a join and never a sort:
ix_orders_analytics (status, created_at, assigned_to, failed_attempts, closed_at) and
ix_feedback_order_created (order_created_at, delivery_person_id, rating). orders.failed_attempts is kept by
lifecycle.set_status in the statement that changes the status, and the feedback columns are written by a
trigger as the feedback is inserted, so the figures are exact at any moment (no batch job).

A range longer than a month is read a month at a time and the (additive) results are merged here, so no single
statement grows past a month of orders: a year-long answer takes longer, but none of its statements comes near
the database read timeout. Only the 90th percentile needs more than sums: it takes at most two passes, first a
histogram of log-scaled buckets, then the exact values of the one bucket that holds the percentile.
"""

import math
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from . import eta, replica
from .db import query
from .errors import bad_request
from .vocabulary import FINAL as CLOSED
from .vocabulary import ISSUE_STATUSES, OPEN_ISSUES, STATUSES

DEFAULT_DAYS = 30
MAX_DAYS = 366
CHUNK = timedelta(days=31)  # the most one statement reads
PERCENTILE = 0.9
BUCKETS_PER_OCTAVE = 128  # histogram resolution: each bucket spans about 0.5 % of its durations

# Every status listed, so the range is read from ix_orders_analytics as nine index ranges. Ranges are
# half-open here ([lo, hi)): months of a long range then meet without overlapping.
_ALL_STATUSES = ", ".join(["%s"] * len(STATUSES))
_IN_RANGE = f"status IN ({_ALL_STATUSES}) AND created_at >= %s AND created_at < %s"
_DELIVERED_IN_RANGE = "status = 'Delivered' AND created_at >= %s AND created_at < %s"
_DURATION_US = "TIMESTAMPDIFF(MICROSECOND, created_at, closed_at)"
_BUCKET = f"FLOOR(LOG2(GREATEST({_DURATION_US}, 1)) * {BUCKETS_PER_OCTAVE})"


# Dates the database stores (DATETIME starts at year 1000), with a year's margin at the top for the range's
# chunk arithmetic: anything outside is a 400 naming the parameter, never an overflow.
EARLIEST, LATEST = datetime(1000, 1, 1), datetime(9998, 12, 31, 23, 59, 59, 999999)


def _check_bounds(name, value):
    if value is not None and not EARLIEST <= value <= LATEST:
        problem = "must be between 1000-01-01 and 9998-12-31"
        raise bad_request(f"{name} {problem}", "invalid_query", {name: problem})


def date_range(date_from, date_to):
    """The range asked for, with its defaults (the 30 calendar days up to `to`, which defaults to now)."""
    _check_bounds("from", date_from)
    _check_bounds("to", date_to)
    end = date_to or datetime.now(UTC).replace(tzinfo=None)
    start = date_from or datetime.combine(end.date() - timedelta(days=DEFAULT_DAYS - 1), time.min)
    if start > end:
        raise bad_request("from must not be after to", "invalid_query", {"from": "must not be after to"})
    if end - start > timedelta(days=MAX_DAYS):
        problem = f"the range must not be longer than {MAX_DAYS} days"
        raise bad_request(f"from and to: {problem}", "invalid_query", {"from": problem, "to": problem})
    return start, end


def _chunks(start, end):
    """[start, end] as half-open pieces of at most CHUNK (times are stored to the microsecond)."""
    stop = end + timedelta(microseconds=1)
    while start < stop:
        yield start, min(start + CHUNK, stop)
        start += CHUNK


def _rows(sql, start, end, before=(), after=()):
    """Every row of `sql` run once per chunk of the range, its bounds between `before` and `after` args."""
    rows = []
    for low, high in _chunks(start, end):
        rows += query(sql, (*before, low, high, *after))
    return rows


def _ratio(part, whole, digits=4):
    return round(part / whole, digits) if whole else None


def _seconds(microseconds, count):
    """An average duration in seconds (3 decimals), or None without any."""
    return round(int(microseconds) / count / 1e6, 3) if count else None


def _days(start, end):
    day, days = start.date(), []
    while day <= end.date():
        days.append(day)
        day += timedelta(days=1)
    return days


def _order_figures(start, end):
    """Orders by status and per day, the two rates, and the delivery times."""
    rows = _rows(
        "SELECT DATE(created_at) AS day, status, failed_attempts > 0 AS failed, COUNT(*) AS n,"
        f" SUM({_DURATION_US}) AS delivery_us"
        f" FROM orders WHERE {_IN_RANGE} GROUP BY day, status, failed ORDER BY NULL",
        start,
        end,
        before=STATUSES,
    )
    by_status = dict.fromkeys(STATUSES, 0)
    per_day = {day: {"date": day.isoformat(), "orders": 0, "delivered": 0} for day in _days(start, end)}
    first_try = attempted = delivery_us = 0
    for row in rows:
        n, delivered = int(row["n"]), row["status"] == "Delivered"
        by_status[row["status"]] += n
        day = per_day[row["day"]]
        day["orders"] += n
        if delivered:
            day["delivered"] += n
            delivery_us += int(row["delivery_us"] or 0)
            first_try += 0 if row["failed"] else n
        if delivered or row["failed"]:
            attempted += n
    delivered = by_status["Delivered"]
    return {
        "orders": {"total": sum(by_status.values()), "by_status": by_status},
        "orders_per_day": list(per_day.values()),
        "delivery_rate": _ratio(delivered, sum(by_status[s] for s in CLOSED)),
        "first_attempt_success_rate": _ratio(first_try, attempted),
        "delivery_time": {
            "delivered": delivered,
            "average_seconds": _seconds(delivery_us, delivered),
            "p90_seconds": _p90_seconds(start, end, delivered),
        },
    }


def _histogram(start, end):
    """{bucket: [count, shortest, longest]} of the delivery times (in microseconds), bucket by bucket."""
    buckets = {}
    for row in _rows(
        f"SELECT {_BUCKET} AS bucket, COUNT(*) AS n, MIN({_DURATION_US}) AS low, MAX({_DURATION_US}) AS high"
        f" FROM orders WHERE {_DELIVERED_IN_RANGE} GROUP BY bucket ORDER BY NULL",
        start,
        end,
    ):
        n, low, high = int(row["n"]), int(row["low"] or 0), int(row["high"] or 0)
        if row["bucket"] in buckets:
            seen = buckets[row["bucket"]]
            buckets[row["bucket"]] = [seen[0] + n, min(seen[1], low), max(seen[2], high)]
        else:
            buckets[row["bucket"]] = [n, low, high]
    return buckets


def _p90_seconds(start, end, count):
    """The 90th percentile (nearest rank) of placement-to-delivery time, in seconds (3 decimals)."""
    if not count:
        return None
    rank = math.ceil(PERCENTILE * count)  # 1-based rank among the delivery times, shortest first
    buckets = _histogram(start, end)
    for bucket in sorted(buckets, key=lambda b: -1 if b is None else b):
        n, low, high = buckets[bucket]
        if rank > n:
            rank -= n
            continue
        if rank == 1 or low == high:
            return round(low / 1e6, 3)
        if rank == n:
            return round(high / 1e6, 3)
        return round(_nth_in_bucket(start, end, bucket, rank) / 1e6, 3)
    return None  # only if orders were delivered between the count and the histogram


def _nth_in_bucket(start, end, bucket, rank):
    """The rank-th shortest delivery time (1-based) among those in one histogram bucket."""
    rows = _rows(
        f"SELECT {_DURATION_US} AS us, COUNT(*) AS n FROM orders"
        f" WHERE {_DELIVERED_IN_RANGE} AND {_BUCKET} = %s GROUP BY us ORDER BY NULL",
        start,
        end,
        after=(bucket,),
    )
    for row in sorted(rows, key=lambda r: r["us"]):
        rank -= int(row["n"])
        if rank <= 0:
            return int(row["us"])
    return int(max(row["us"] for row in rows))  # orders changed between the two passes


def _ratings(start, end):
    """{courier id (None: no courier): [ratings, sum of ratings]} of the feedback on orders in the range."""
    ratings = defaultdict(lambda: [0, 0])
    for row in _rows(
        "SELECT delivery_person_id, COUNT(rating) AS ratings, SUM(rating) AS rating_sum FROM feedback"
        " WHERE order_created_at >= %s AND order_created_at < %s GROUP BY delivery_person_id ORDER BY NULL",
        start,
        end,
    ):
        ratings[row["delivery_person_id"]][0] += int(row["ratings"])
        ratings[row["delivery_person_id"]][1] += int(row["rating_sum"] or 0)
    return ratings


def _couriers(start, end, ratings):
    """Per courier with orders in the range: delivered, failed attempts, mean delivery time and rating."""
    sums = defaultdict(lambda: {"delivered": 0, "failed_attempts": 0, "delivery_us": 0, "name": None})
    for row in _rows(
        "SELECT x.*, d.name FROM (SELECT assigned_to, SUM(status = 'Delivered') AS delivered,"
        " SUM(failed_attempts) AS failed_attempts,"
        f" SUM(IF(status = 'Delivered', {_DURATION_US}, 0)) AS delivery_us"
        f" FROM orders WHERE {_IN_RANGE} AND assigned_to IS NOT NULL GROUP BY assigned_to ORDER BY NULL) x"
        " JOIN delivery_persons d ON d.delivery_person_id = x.assigned_to",
        start,
        end,
        before=STATUSES,
    ):
        courier = sums[row["assigned_to"]]
        courier["name"] = row["name"]
        for key in ("delivered", "failed_attempts", "delivery_us"):
            courier[key] += int(row[key] or 0)
    couriers = []
    for courier_id, courier in sums.items():
        count, total = ratings.get(courier_id, (0, 0))
        couriers.append(
            {
                "delivery_person_id": courier_id,
                "name": courier["name"],
                "delivered": courier["delivered"],
                "failed_attempts": courier["failed_attempts"],
                "average_delivery_seconds": _seconds(courier["delivery_us"], courier["delivered"]),
                "rating": _ratio(total, count, 2),
                "ratings": count,
            }
        )
    return sorted(couriers, key=lambda c: (-c["delivered"], c["delivery_person_id"]))


def _issues(start, end):
    """Issues created in the range by status, and the ones open now (Open or In Progress, of any date)."""
    rows = query(
        "SELECT status, COUNT(*) AS n FROM issues WHERE created_at BETWEEN %s AND %s"
        " GROUP BY status ORDER BY NULL",
        (start, end),
    )
    by_status = dict.fromkeys(ISSUE_STATUSES, 0)
    for row in rows:
        by_status[row["status"]] = int(row["n"])
    open_now = query("SELECT COUNT(*) AS n FROM issues WHERE status IN (%s, %s)", OPEN_ISSUES, one=True)["n"]
    return {"by_status": by_status, "open": int(open_now)}


@replica.reads()  # reports may be a few seconds old
def summary(date_from, date_to):
    """GET /admin/analytics: every figure for the orders (and issues) created in [date_from, date_to]."""
    start, end = date_range(date_from, date_to)
    figures = _order_figures(start, end)
    ratings = _ratings(start, end)
    count = sum(n for n, _ in ratings.values())
    return {
        "from": start,
        "to": end,
        **figures,
        "couriers": _couriers(start, end, ratings),
        "issues": _issues(start, end),
        "feedback": {
            "ratings": count,
            "average_rating": _ratio(sum(t for _, t in ratings.values()), count, 2),
        },
        "eta": eta.accuracy(_chunks(start, end)),  # about the orders *delivered* in the range
    }
