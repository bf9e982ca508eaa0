"""Couriers' working day: shift hours and on-shift state, capacity, depot, and where each one is now."""

from datetime import UTC, datetime, time, timedelta

from flask import current_app

from .db import execute, query, transaction
from .errors import bad_request, conflict, not_found

COURIER_COLUMNS = (
    "d.delivery_person_id, d.name, d.capacity_kg, d.capacity_parcels, d.depot_latitude, d.depot_longitude,"
    " d.shift_start, d.shift_end, d.on_shift_since"
)
SETTINGS = (
    "capacity_kg",
    "capacity_parcels",
    "depot_latitude",
    "depot_longitude",
    "shift_start",
    "shift_end",
)


def now():
    """The current time as naive UTC; tests inject a clock as app.config["CLOCK"]."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.now(UTC).replace(tzinfo=None)


def _as_time(value):
    """MySQL TIME columns come back as timedelta."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds()) % 86400
        return time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    return value


def courier_json(row):
    """A courier's dispatch settings and on-shift state."""
    return {
        "delivery_person_id": row["delivery_person_id"],
        "name": row["name"],
        "capacity_kg": float(row["capacity_kg"]),
        "capacity_parcels": row["capacity_parcels"],
        "depot_latitude": _float(row["depot_latitude"]),
        "depot_longitude": _float(row["depot_longitude"]),
        "shift_start": _as_time(row["shift_start"]).strftime("%H:%M"),
        "shift_end": _as_time(row["shift_end"]).strftime("%H:%M"),
        "on_shift": row["on_shift_since"] is not None,
        "on_shift_since": row["on_shift_since"],
    }


def _float(value):
    return None if value is None else float(value)


def get_courier(courier_id, lock=False):
    """A live courier's row (dispatch columns), or 404."""
    row = query(
        f"SELECT {COURIER_COLUMNS} FROM delivery_persons d"
        " WHERE d.delivery_person_id = %s AND d.deleted_at IS NULL" + (" FOR UPDATE" if lock else ""),
        (courier_id,),
        one=True,
    )
    if row is None:
        raise not_found("Delivery person")
    return row


def list_couriers(on_shift=None):
    """Live couriers with their dispatch settings, by id (optionally only those on or off shift)."""
    where = "d.deleted_at IS NULL"
    if on_shift is True:
        where += " AND d.on_shift_since IS NOT NULL"
    elif on_shift is False:
        where += " AND d.on_shift_since IS NULL"
    rows = query(
        f"SELECT {COURIER_COLUMNS} FROM delivery_persons d WHERE {where} ORDER BY d.delivery_person_id"
    )
    return [courier_json(row) for row in rows]


def parse_clock_time(name, raw):
    """'HH:MM' (or 'HH:MM:SS') as a time, or a 400 naming the field."""
    try:
        return time.fromisoformat(raw)
    except (TypeError, ValueError):
        problem = "must be a time of day, HH:MM (UTC)"
        raise bad_request(f"{name} {problem}", "invalid_fields", {name: problem}) from None


@transaction()
def update_settings(courier_id, body):
    """An admin sets a courier's capacity, depot and/or shift hours. Call inside a transaction."""
    get_courier(courier_id, lock=True)
    lat, lng = body.get("depot_latitude"), body.get("depot_longitude")
    if ("depot_latitude" in body) != ("depot_longitude" in body) or (lat is None) != (lng is None):
        missing = "depot_longitude" if "depot_latitude" in body else "depot_latitude"
        problem = "required with the other depot coordinate"
        raise bad_request(f"{missing} {problem}", "missing_fields", {missing: problem})
    values = {}
    for name in SETTINGS:
        if name not in body:
            continue
        value = body[name]
        if name in ("shift_start", "shift_end"):
            value = parse_clock_time(name, value)
        values[name] = value
    if not values:
        problem = "send at least one of: " + ", ".join(SETTINGS)
        raise bad_request("Nothing to change: " + problem, "missing_fields", {"body": problem})
    assignments = ", ".join(f"{name} = %s" for name in values)  # names from SETTINGS only
    execute(
        f"UPDATE delivery_persons SET {assignments} WHERE delivery_person_id = %s",
        (*values.values(), courier_id),
    )
    return courier_json(get_courier(courier_id))


@transaction()
def start_shift(courier_id):
    """The courier starts their shift (409 if already on shift). Call inside a transaction."""
    courier = get_courier(courier_id, lock=True)
    if courier["on_shift_since"] is not None:
        raise conflict("You are already on shift", "already_on_shift")
    execute(
        "UPDATE delivery_persons SET on_shift_since = %s WHERE delivery_person_id = %s", (now(), courier_id)
    )
    return courier_json(get_courier(courier_id))


@transaction()
def end_shift(courier_id):
    """The courier ends their shift (409 if not on shift). Call inside a transaction."""
    courier = get_courier(courier_id, lock=True)
    if courier["on_shift_since"] is None:
        raise conflict("You are not on shift", "not_on_shift")
    execute("UPDATE delivery_persons SET on_shift_since = NULL WHERE delivery_person_id = %s", (courier_id,))
    return courier_json(get_courier(courier_id))


def latest_position(courier_id, since):
    """The courier's latest reported (latitude, longitude) at or after `since`, or None."""
    row = query(
        "SELECT latitude, longitude FROM courier_positions"
        " WHERE delivery_person_id = %s AND recorded_at >= %s AND latitude IS NOT NULL"
        " ORDER BY recorded_at DESC, position_id DESC LIMIT 1",
        (courier_id, since),
        one=True,
    )
    return None if row is None else (float(row["latitude"]), float(row["longitude"]))


def start_point(courier, at):
    """Where the courier's route starts at `at`: today's latest position, else the depot; (point, source)."""
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    position = latest_position(courier["delivery_person_id"], midnight)
    if position is not None:
        return position, "position"
    depot = depot_point(courier)
    return (depot, "depot") if depot else (None, None)


def depot_point(courier):
    if courier["depot_latitude"] is None:
        return None
    return float(courier["depot_latitude"]), float(courier["depot_longitude"])


def shift_bounds(courier, at):
    """(start, end) of the courier's shift that contains `at` (or the next one, or the one just ended).

    Shift hours are UTC times of day; an end at or before the start means the shift ends the next day.
    """
    start_t, end_t = _as_time(courier["shift_start"]), _as_time(courier["shift_end"])
    length = (datetime.combine(at.date(), end_t) - datetime.combine(at.date(), start_t)).total_seconds()
    if length <= 0:
        length += 86400
    for days in (-1, 0, 1):
        start = datetime.combine(at.date() + timedelta(days=days), start_t)
        end = start + timedelta(seconds=length)
        if at < end:
            return start, end
    return start, end
