"""Travel times and distances between points: straight line x detour factor at an average speed, or an
OSRM-compatible /table service when ROUTING_URL is set."""

import json
import logging
import math
import urllib.error
import urllib.request

import numpy

log = logging.getLogger(__name__)
EARTH_RADIUS_M = 6_371_008.8


class RoutingError(Exception):
    """The table service did not answer with a usable matrix."""


def haversine_m(lat1, lng1, lat2, lng2):
    """Great-circle distance in metres between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def straight_line_matrix(points, speed_kmh, detour):
    """(durations in s, distances in m) for every pair of (lat, lng) points, as integer numpy arrays."""
    coords = numpy.radians(numpy.asarray(points, dtype=float).reshape(-1, 2))
    lat, lng = coords[:, 0][:, None], coords[:, 1][:, None]
    a = (
        numpy.sin((lat.T - lat) / 2) ** 2
        + numpy.cos(lat) * numpy.cos(lat.T) * numpy.sin((lng.T - lng) / 2) ** 2
    )
    metres = 2 * EARTH_RADIUS_M * numpy.arcsin(numpy.sqrt(numpy.clip(a, 0, 1))) * detour
    seconds = metres / (speed_kmh * 1000 / 3600)
    return numpy.rint(seconds).astype(numpy.uint32), numpy.rint(metres).astype(numpy.uint32)


def osrm_matrix(points, url, timeout):
    """(durations, distances) from an OSRM-compatible `GET /table/v1/driving/lng,lat;...` service."""
    coords = ";".join(f"{lng:.6f},{lat:.6f}" for lat, lng in points)
    request = urllib.request.Request(f"{url}/table/v1/driving/{coords}?annotations=duration,distance")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
            status, body = response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise RoutingError(f"routing service answered {err.code}") from err
    except (OSError, ValueError) as err:
        raise RoutingError(f"routing service unreachable: {err}") from err
    if status != 200 or not isinstance(body, dict) or body.get("code") != "Ok":
        raise RoutingError(
            f"routing service answered {status} {body.get('code') if isinstance(body, dict) else ''}"
        )
    n = len(points)
    durations, distances = body.get("durations"), body.get("distances")
    if not isinstance(durations, list) or len(durations) != n or any(len(row) != n for row in durations):
        raise RoutingError("routing service answered a table of the wrong size")
    # OSRM gives null for unreachable pairs: make them prohibitively long rather than free.
    big = 10 * 24 * 3600
    seconds = numpy.array([[big if v is None else v for v in row] for row in durations], dtype=float)
    if isinstance(distances, list) and len(distances) == n:
        metres = numpy.array([[0 if v is None else v for v in row] for row in distances], dtype=float)
    else:
        metres = numpy.zeros((n, n))
    return numpy.rint(seconds).astype(numpy.uint32), numpy.rint(metres).astype(numpy.uint32)


def matrix(points, config):
    """(durations, distances, source) for the points; the table service falls back to straight lines."""
    if not points:
        empty = numpy.zeros((0, 0), dtype=numpy.uint32)
        return empty, empty, "straight_line"
    if config.get("ROUTING_URL") and len(points) > 1:
        try:
            durations, distances = osrm_matrix(
                points, config["ROUTING_URL"], config["ROUTING_TIMEOUT_SECONDS"]
            )
            return durations, distances, "osrm"
        except RoutingError as err:
            log.warning("%s; using straight-line travel times", err)
    durations, distances = straight_line_matrix(
        points, config["ROUTING_SPEED_KMH"], config["ROUTING_DETOUR_FACTOR"]
    )
    return durations, distances, "straight_line"
