"""The console's HTML pages as the server sends them: a strict Content-Security-Policy, no inline code,
the tile server's host allowed for images only, and every asset they name served from this server."""

import re

import pytest

from courier.console import content_security_policy, tile_source

TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


@pytest.fixture
def app(app):
    app.config["MAP_TILE_URL"] = TILE_URL
    return app


def directives(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_console_page_is_html_with_a_strict_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = directives(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    # Images also from the map tile server (the admin's Dispatch map).
    assert csp["img-src"] == ["'self'", "data:", "blob:", "https://tile.openstreetmap.org"]
    assert csp["frame-ancestors"] == ["'none'"]
    html = response.get_data(as_text=True)
    assert '<script type="module" src="/static/console/console.js"></script>' in html
    assert 'id="login-form"' in html


def test_pages_have_no_inline_scripts_styles_or_handlers(client):
    for path in ("/", "/t/CT0123456789ABCDEF"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_tracking_page_allows_the_tile_host_for_images_only(client):
    response = client.get("/t/CT0123456789ABCDEF")
    assert response.status_code == 200
    csp = directives(response)
    assert csp["img-src"] == ["'self'", "data:", "blob:", "https://tile.openstreetmap.org"]
    assert csp["connect-src"] == ["'self'"]
    html = response.get_data(as_text=True)
    assert 'data-tracking-number="CT0123456789ABCDEF"' in html
    assert f'data-tile-url="{TILE_URL}"' in html
    assert "/static/vendor/leaflet-1.9.4/leaflet.js" in html


def test_tracking_page_escapes_the_tracking_number(client):
    response = client.get('/t/"><img src=x onerror=1>')  # 23 characters: a tracking number's length
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<img src=x" not in html
    assert 'data-tracking-number="&#34;&gt;&lt;img src=x onerror=1&gt;"' in html
    # Longer than any tracking number (what the document says): 404, and nothing of it is echoed.
    response = client.get('/t/"><img src=x onerror=alert(1)>')
    assert response.status_code == 404 and "<img" not in response.get_data(as_text=True)


def test_tracking_page_without_tiles_has_no_map(app, client):
    app.config["MAP_TILE_URL"] = ""
    response = client.get("/t/CT0123456789ABCDEF")
    assert directives(response)["img-src"] == ["'self'", "data:", "blob:"]
    html = response.get_data(as_text=True)
    assert 'data-tile-url=""' in html
    assert "leaflet.js" not in html


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.com:8443/{z}/{x}/{y}.png", "https://*.tile.example.com:8443"),
        ("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
        ("", None),
        ("javascript:alert(1)", None),
        ("https://evil.example; script-src *", None),
        ("/relative/{z}/{x}/{y}.png", None),
    ],
)
def test_tile_source(url, source):
    assert tile_source(url) == source
    if source is None:
        assert content_security_policy(url) == content_security_policy(None)


def test_every_asset_the_pages_name_is_served(client):
    for path in ("/", "/t/CT0123456789ABCDEF"):
        html = client.get(path).get_data(as_text=True)
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            response = client.get(asset)
            assert response.status_code == 200, asset
            response.close()


def test_console_modules_import_only_files_that_exist(client):
    response = client.get("/static/console/console.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    response.close()
    seen, todo = set(), ["console.js", "track.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        response = client.get(f"/static/console/{name}")
        assert response.status_code == 200, name
        text = response.get_data(as_text=True)
        response.close()
        todo += re.findall(r'from "\./([a-z]+\.js)"', text)
    assert {"api.js", "ui.js", "live.js", "customer.js", "courier.js", "admin.js", "charts.js"} <= seen
