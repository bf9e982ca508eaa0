"""The courier position stream: pings and batches of points, the latest position, and trail retention.

A ping (or a batch of buffered points) writes the courier's latest position on their row in
delivery_persons and one courier_positions row per point. It locks no order and adds no timeline event:
an order's position is its courier's while it is Out for Delivery (courier.tracking applies the privacy
rule). Only a location *text* the courier typed is a timeline event (`location`) of their active orders.

Points carry recorded_at, when the device took them. The trail is ordered by it, the latest point by
recorded_at is the courier's position whatever order points arrive in, and a point with the same
recorded_at as one already stored is a duplicate and is skipped (a batch re-sent after a lost answer
stores nothing twice). A point from the future or one that implies a jump faster than
POSITION_MAX_SPEED_KMH rejects the request (400 naming the point); nothing is stored then.
"""

import logging
import math
import time
from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from . import eta
from .db import execute, query, transaction
from .errors import bad_request, conflict, not_found
from .events import actor_name

log = logging.getLogger(__name__)

MAX_POINTS = 500  # points in one batch
FUTURE_TOLERANCE = timedelta(seconds=30)  # device clocks run a little ahead
# GPS noise (urban canyons) and server-stamped pings a moment apart: a move this small is never a jump.
JITTER_METRES = 250
PURGE_BATCH = 1000  # trail rows deleted per statement (each a short transaction)
EARTH_RADIUS_M = 6_371_000


def utcnow():
    """Now in naive UTC; tests replace current_app.config["CLOCK"] to move time."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.now(UTC).replace(tzinfo=None)


def parse_time(raw, field):
    """An ISO 8601 date-time (with a zone, or UTC if none) as naive UTC, or a 400 naming `field`."""
    problem = "must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z"
    if not isinstance(raw, str) or not 10 < len(raw) <= 40:
        raise bad_request(f"{field} {problem}", "invalid_fields", {field: problem})
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise bad_request(f"{field} {problem}", "invalid_fields", {field: problem}) from None
    return value


def distance_m(a, b):
    """Great-circle distance in metres between two (latitude, longitude) pairs."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def impossible(previous, point, max_speed_ms):
    """Whether going from `previous` to `point` (dicts with latitude, longitude, recorded_at) is too fast."""
    metres = distance_m(
        (float(previous["latitude"]), float(previous["longitude"])),
        (float(point["latitude"]), float(point["longitude"])),
    )
    if metres <= JITTER_METRES:
        return False
    seconds = abs((point["recorded_at"] - previous["recorded_at"]).total_seconds())
    return metres > max_speed_ms * max(seconds, 1.0)


def parse_points(raw_points, now):
    """The batch's points as dicts {index, latitude, longitude, recorded_at}; future points are a 400."""
    points = []
    for index, raw in enumerate(raw_points):
        field = f"points.{index}.recorded_at"
        recorded_at = parse_time(raw["recorded_at"], field)
        if recorded_at > now + FUTURE_TOLERANCE:
            problem = "is in the future"
            raise bad_request(f"{field} {problem}", "invalid_point", {field: problem}, index=index)
        points.append(
            {
                "index": index,
                "latitude": raw["latitude"],
                "longitude": raw["longitude"],
                "recorded_at": recorded_at,
            }
        )
    return points


def _stored_before(courier_id, moment):
    return query(
        "SELECT latitude, longitude, recorded_at FROM courier_positions"
        " WHERE delivery_person_id = %s AND recorded_at <= %s AND latitude IS NOT NULL"
        " ORDER BY recorded_at DESC LIMIT 1",
        (courier_id, moment),
        one=True,
    )


def _check_jumps(courier_id, points):
    """Reject a batch (sorted by recorded_at) whose path is faster than POSITION_MAX_SPEED_KMH."""
    max_speed_ms = float(current_app.config["POSITION_MAX_SPEED_KMH"]) / 3.6
    previous = _stored_before(courier_id, points[0]["recorded_at"])
    for point in points:
        if previous is not None and impossible(previous, point, max_speed_ms):
            field = f"points.{point['index']}"
            problem = (
                f"is an impossible jump from the point before it (faster than "
                f"{current_app.config['POSITION_MAX_SPEED_KMH']:g} km/h)"
            )
            raise bad_request(f"{field} {problem}", "invalid_point", {field: problem}, index=point["index"])
        previous = point


def _lock_courier(courier_id):
    """Lock the courier's own row (never an order): pings of one courier take turns."""
    row = query(
        "SELECT position_at FROM delivery_persons WHERE delivery_person_id = %s AND deleted_at IS NULL"
        " FOR UPDATE",
        (courier_id,),
        one=True,
    )
    if row is None:
        raise not_found("Delivery person")
    return row


def _new_points(courier_id, points):
    """The points not stored yet: one per recorded_at (the first sent wins), oldest first."""
    unique = {}
    for point in sorted(points, key=lambda p: (p["recorded_at"], p["index"])):
        unique.setdefault(point["recorded_at"], point)
    ordered = list(unique.values())
    stored = query(
        "SELECT recorded_at FROM courier_positions WHERE delivery_person_id = %s"
        " AND recorded_at BETWEEN %s AND %s",
        (courier_id, ordered[0]["recorded_at"], ordered[-1]["recorded_at"]),
    )
    seen = {row["recorded_at"] for row in stored}
    return [p for p in ordered if p["recorded_at"] not in seen]


def _set_latest(courier_id, latest, location=None):
    """Make `latest` the courier's position unless a later point (by recorded_at) is already there."""
    has_position = latest.get("latitude") is not None
    _, changed = execute(
        "UPDATE delivery_persons SET latitude = IF(%s, %s, latitude), longitude = IF(%s, %s, longitude),"
        " location = COALESCE(%s, location), position_at = %s"
        " WHERE delivery_person_id = %s AND (position_at IS NULL OR position_at <= %s)",
        (
            has_position,
            latest.get("latitude"),
            has_position,
            latest.get("longitude"),
            location,
            latest["recorded_at"],
            courier_id,
            latest["recorded_at"],
        ),
    )
    return bool(changed)


def _insert_trail(courier_id, points, location=None):
    if not points:
        return
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(points))
    args = []
    for point in points:
        args += [courier_id, point.get("latitude"), point.get("longitude"), location, point["recorded_at"]]
    execute(
        "INSERT INTO courier_positions (delivery_person_id, latitude, longitude, location, recorded_at)"
        f" VALUES {values}",
        tuple(args),
    )


def record_batch(caller, raw_points):
    """Store a batch of points in one transaction; returns a summary for the response."""
    now = utcnow()
    points = parse_points(raw_points, now)
    with transaction():
        _lock_courier(caller.id)
        fresh = _new_points(caller.id, points)
        if fresh:
            _check_jumps(caller.id, fresh)
        _insert_trail(caller.id, fresh)
        latest = fresh[-1] if fresh else None
        moved = _set_latest(caller.id, latest) if latest else False
    if moved:
        eta.recompute_quietly(caller.id)
    return {
        "received": len(points),
        "stored": len(fresh),
        "duplicates": len(points) - len(fresh),
        "latest_recorded_at": latest["recorded_at"] if moved else None,
    }


def _active_orders(courier_id, order_id):
    """The ids of the courier's active orders (or just `order_id`, which must be one of theirs)."""
    if order_id is not None:
        row = query(
            "SELECT order_id, status, closed_at FROM orders WHERE order_id = %s AND assigned_to = %s",
            (order_id, courier_id),
            one=True,
        )
        if row is None:
            raise not_found("Order")
        if row["closed_at"] is not None:
            raise conflict(f"Order is {row['status']}, which is final", "order_closed")
        return [row["order_id"]]
    rows = query(
        "SELECT order_id FROM orders WHERE assigned_to = %s AND closed_at IS NULL ORDER BY order_id",
        (courier_id,),
    )
    return [row["order_id"] for row in rows]


def _location_events(caller, order_ids, location, latitude, longitude):
    """A typed location is a timeline event of each order it is about (the order keeps the text too)."""
    placeholders = ", ".join(["%s"] * len(order_ids))
    execute(
        f"UPDATE orders SET location = %s WHERE order_id IN ({placeholders}) AND closed_at IS NULL",
        (location, *order_ids),
    )
    execute(
        "INSERT INTO order_events (order_id, type, status, note, location, latitude, longitude,"
        " actor_role, actor_id, actor_name)"
        " SELECT order_id, 'location', status, 'Location updated', %s, %s, %s, 'delivery_person', %s, %s"
        f" FROM orders WHERE order_id IN ({placeholders}) AND closed_at IS NULL ORDER BY order_id",
        (location, latitude, longitude, caller.id, actor_name(caller), *order_ids),
    )


def record_ping(caller, latitude, longitude, location, order_id=None, recorded_at=None):
    """One ping, in one transaction. Coordinates go to the position stream only; a location text
    is also a timeline event of the courier's active orders (or of `order_id`). Returns the ids of the
    active orders the ping is about (read without locking them) and whether the point became the
    courier's latest position."""
    now = utcnow()
    if recorded_at is None:
        recorded_at = now
    elif recorded_at > now + FUTURE_TOLERANCE:
        problem = "is in the future"
        raise bad_request(f"recorded_at {problem}", "invalid_fields", {"recorded_at": problem})
    with transaction():
        order_ids = _active_orders(caller.id, order_id)
        _lock_courier(caller.id)
        point = {"index": 0, "latitude": latitude, "longitude": longitude, "recorded_at": recorded_at}
        duplicate = latitude is not None and not _new_points(caller.id, [point])
        if latitude is not None and not duplicate:
            max_speed_ms = float(current_app.config["POSITION_MAX_SPEED_KMH"]) / 3.6
            previous = _stored_before(caller.id, recorded_at)
            if previous is not None and impossible(previous, point, max_speed_ms):
                problem = f"is an impossible jump (faster than {current_app.config['POSITION_MAX_SPEED_KMH']:g} km/h)"
                raise bad_request(f"latitude {problem}", "invalid_point", {"latitude": problem})
        if not duplicate:
            _insert_trail(caller.id, [point], location)
        moved = _set_latest(caller.id, point, location) if not duplicate else False
        if location is not None and order_ids:
            _location_events(caller, order_ids, location, latitude, longitude)
    if moved:
        eta.recompute_quietly(caller.id)  # ETAs, arrival and late risk follow the new position
    return order_ids, moved


def purge(now=None, days=None, batch=PURGE_BATCH, pause=0.0):
    """Delete trail rows recorded more than `days` (POSITION_RETENTION_DAYS) ago, `batch` rows per
    statement, each its own short transaction (autocommit), so no lock is held for long. Returns the count."""
    days = current_app.config["POSITION_RETENTION_DAYS"] if days is None else days
    cutoff = (now or utcnow()) - timedelta(days=days)
    total = 0
    while True:
        rows = query(
            "SELECT position_id FROM courier_positions WHERE recorded_at < %s ORDER BY recorded_at LIMIT %s",
            (cutoff, batch),
        )
        if not rows:
            return total
        ids = [row["position_id"] for row in rows]
        placeholders = ", ".join(["%s"] * len(ids))
        _, deleted = execute(
            f"DELETE FROM courier_positions WHERE position_id IN ({placeholders})", tuple(ids)
        )
        total += deleted
        if len(rows) < batch:
            return total
        if pause:
            time.sleep(pause)


@click.command("purge-positions")
@click.option(
    "--days", type=click.IntRange(min=0), help="Keep this many days of trail [POSITION_RETENTION_DAYS]."
)
@click.option("--batch", type=click.IntRange(1, 100_000), default=PURGE_BATCH, show_default=True)
@with_appcontext
def purge_positions_command(days, batch):
    """Delete courier trail rows older than the retention period, in small batches."""
    deleted = purge(days=days, batch=batch, pause=0.01)
    kept = current_app.config["POSITION_RETENTION_DAYS"] if days is None else days
    click.echo(f"Deleted {deleted} trail point(s) recorded more than {kept} day(s) ago.")


def init_app(app):
    app.cli.add_command(purge_positions_command)
