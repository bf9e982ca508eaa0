"""Geocoding orders placed without coordinates, through a Nominatim-compatible service (geopy).

The worker (`flask --app app1 worker`) calls geocode_pending() on every poll when GEOCODER_URL is set; each
result (or failure) is recorded on the order's timeline as a note.
"""

import logging
from urllib.parse import urlsplit

from geopy.exc import GeocoderQueryError, GeopyError
from geopy.geocoders import Nominatim

from . import events
from .db import execute, query, transaction
from .dispatch import SYSTEM

log = logging.getLogger(__name__)


def geocoder(config):
    """A geopy Nominatim client for GEOCODER_URL (scheme, host, port and any path prefix)."""
    url = urlsplit(config["GEOCODER_URL"])
    return Nominatim(
        user_agent="courier-tracking-system",
        domain=url.netloc + url.path.rstrip("/"),
        scheme=url.scheme or "https",
        timeout=config["GEOCODER_TIMEOUT_SECONDS"],
    )


def locate(client, address):
    """(latitude, longitude) of the address's best match, or None when the service finds nothing."""
    place = client.geocode(address, exactly_one=True)
    if place is None:
        return None
    lat, lng = float(place.latitude), float(place.longitude)
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return round(lat, 6), round(lng, 6)


def _describe(name, point):
    return f"{name} at {point[0]:.6f}, {point[1]:.6f}" if point else f"{name} address not found"


def geocode_one(client):
    """Geocode the oldest pending order (locked, so workers never share one); False when none is pending."""
    with transaction():
        row = query(
            "SELECT order_id, status, pickup_address, delivery_address, pickup_latitude, delivery_latitude"
            " FROM orders WHERE geocode_status = 'pending' ORDER BY order_id LIMIT 1 FOR UPDATE SKIP LOCKED",
            one=True,
        )
        if row is None:
            return False
        try:
            pickup = None if row["pickup_latitude"] is not None else locate(client, row["pickup_address"])
            delivery = (
                None if row["delivery_latitude"] is not None else locate(client, row["delivery_address"])
            )
        except GeocoderQueryError as err:
            pickup = delivery = None
            log.warning("geocoder refused order %s: %s", row["order_id"], err)
        execute(
            "UPDATE orders SET pickup_latitude = COALESCE(pickup_latitude, %s),"
            " pickup_longitude = COALESCE(pickup_longitude, %s),"
            " delivery_latitude = COALESCE(delivery_latitude, %s),"
            " delivery_longitude = COALESCE(delivery_longitude, %s),"
            " geocode_status = IF(COALESCE(pickup_latitude, %s) IS NOT NULL"
            "   AND COALESCE(delivery_latitude, %s) IS NOT NULL, 'done', 'failed')"
            " WHERE order_id = %s",
            (
                *(pickup or (None, None)),
                *(delivery or (None, None)),
                pickup and pickup[0],
                delivery and delivery[0],
                row["order_id"],
            ),
        )
        parts = []
        if row["pickup_latitude"] is None:
            parts.append(_describe("Pickup", pickup))
        if row["delivery_latitude"] is None:
            parts.append(_describe("Delivery", delivery))
        note = "Geocoded: " + "; ".join(parts)
        events.add_event(row["order_id"], "note", row["status"], SYSTEM, note=note)
    return True


def geocode_pending(config, limit):
    """Geocode up to `limit` pending orders; a service outage leaves them pending for the next poll."""
    if not config.get("GEOCODER_URL"):
        return 0
    client, done = geocoder(config), 0
    while done < limit:
        try:
            if not geocode_one(client):
                break
        except GeopyError as err:
            log.warning("geocoder unavailable (%s): orders stay pending", err)
            break
        done += 1
    return done
