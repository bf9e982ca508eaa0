"""The web console (GET /) and the public tracking page (GET /t/<tracking_number>).

Both are HTML shells rendered from courier/templates/console; everything else happens in the browser, where
the scripts in static/console call the JSON API. The pages load scripts, styles and images from this server
only (a strict Content-Security-Policy, no inline script or style), plus the map tiles of MAP_TILE_URL.
"""

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Response, current_app, request
from jinja2 import Environment, FileSystemLoader, select_autoescape

from .errors import not_found
from .tracking import MAX_TRACKING_NUMBER

TEMPLATES = Path(__file__).resolve().parent / "templates" / "console"
LEAFLET = "vendor/leaflet-1.9.4"


@lru_cache(maxsize=1)
def _templates():
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))


def tile_source(tile_url):
    """The CSP source of the map tile server (its scheme and host; a {s} subdomain becomes *), or None."""
    parts = urlsplit(tile_url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc.replace("{s}", "*")
    if "{" in host or "}" in host or any(ch in host for ch in " ;,'\""):
        return None
    return f"{parts.scheme}://{host}"


def content_security_policy(tile_url=None):
    """Everything from this server; images also as data:/blob: (QR codes) and from the map tile server."""
    images = "'self' data: blob:"
    source = tile_source(tile_url)
    if source:
        images += " " + source
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        f" img-src {images}; media-src 'self' blob:; font-src 'self'; manifest-src 'self';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _page(template, csp_tile_url=None, **context):
    base = request.script_root
    html = (
        _templates()
        .get_template(template)
        .render(
            base=base,
            static=f"{base}/static",
            leaflet=f"{base}/static/{LEAFLET}",
            **context,
        )
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy(csp_tile_url)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _tile_url():
    tile_url = current_app.config.get("MAP_TILE_URL") or ""
    return tile_url if tile_source(tile_url) is not None else ""


def index():
    """The console's single page: the login form, then the screens of the user's role (the admin's
    Dispatch screen draws routes on the map tiles of MAP_TILE_URL)."""
    tile_url = _tile_url()
    return _page("index.html", tile_url, tile_url=tile_url)


def tracking_page(tracking_number):
    """The public tracking page; the browser fetches /track/<number> itself (an unknown number shows the
    API's 404 message there), so this page needs no database."""
    if not 0 < len(tracking_number) <= MAX_TRACKING_NUMBER:
        raise not_found("Order")  # what the document says a tracking number is; nothing longer exists
    tile_url = _tile_url()
    return _page("track.html", tile_url, tracking_number=tracking_number, tile_url=tile_url)
