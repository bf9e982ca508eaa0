"""The public tracking page /t/<tracking number> in a real browser: no login, the timeline live, and while
Out for Delivery the courier's rounded position, as text always and on a map only when tiles load."""

import base64

from helpers import order_row
from playwright.sync_api import expect

from .conftest import PHONE, POSITION, TILE_HOST, no_horizontal_scroll, shoot

# A 1x1 grey PNG served as every map tile when a test lets the tiles "load".
TILE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGPYDwAAxgDFMAuHPQAAAABJRU5ErkJggg=="
)


def out_for_delivery_at(client, orders, world, position=POSITION, location="Alexanderplatz"):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    moved = client.patch(
        "/delivery/update-location",
        json={**position, "location": location, "order_id": order["order_id"]},
        headers=world.dave.headers,
    )
    assert moved.status_code == 200, moved.get_json()
    return order


def timeline(page):
    return page.locator("#track-timeline li").evaluate_all("items => items.map(i => i.dataset.status)")


def test_public_page_shows_the_timeline_and_coordinates_when_tiles_fail(pages, client, orders, world, sql):
    order = out_for_delivery_at(client, orders, world)
    page = pages.new(viewport=PHONE)
    tile_requests = []

    def refuse(route):
        tile_requests.append(route.request.url)
        route.abort()

    page.route(f"{TILE_HOST}/**", refuse)
    page.goto(f"/t/{order['tracking_number']}")
    expect(page.locator("#track-status")).to_have_text("Out for Delivery")
    assert timeline(page) == ["Pending", "Assigned", "Picked Up", "Out for Delivery"]
    expect(page.locator("#track-coordinates")).to_contain_text("Courier near 52.52, 13.405 (about 100 m)")
    expect(page.locator("#track-location-text")).to_have_text("Alexanderplatz")
    expect(page.locator("#map-note")).to_have_text(
        "The map could not be loaded, so the courier's position is shown as coordinates only."
    )
    expect(page.locator("#map")).to_be_hidden()
    assert tile_requests, "the map asked for tiles"
    # Public: no names, no exact position.
    body = page.locator("body")
    for private in (world.dave.name, world.alice.name, "Rita Recipient", "1 Delivery Road", "52.520008"):
        expect(body).not_to_contain_text(private)
    expect(page.locator("#track-live")).to_have_text("● Live")
    no_horizontal_scroll(page)
    shoot(page, "public-tracking-phone", doc=True)

    # Live: the courier moves (about 100 m: a ping, streamed as a position), then delivers; the page
    # follows without a reload.
    page.evaluate("window.stillTheSamePage = true")
    moved = client.patch(
        "/delivery/update-location",
        json={"latitude": 52.5207, "longitude": 13.4060, "order_id": order["order_id"]},
        headers=world.dave.headers,
    )
    assert moved.status_code == 200, moved.get_json()
    expect(page.locator("#track-coordinates")).to_contain_text("Courier near 52.521, 13.406")
    orders.move(world.dave, order["order_id"], "Delivered")
    expect(page.locator("#track-status")).to_have_text("Delivered")
    assert timeline(page) == ["Pending", "Assigned", "Picked Up", "Out for Delivery", "Delivered"]
    expect(page.locator("#track-position")).to_be_hidden()
    expect(page.locator("#track-live")).to_have_text("")
    assert page.evaluate("window.stillTheSamePage") is True
    assert order_row(sql, order["order_id"])["status"] == "Delivered"


def test_public_page_draws_the_map_when_tiles_load(pages, client, orders, world):
    order = out_for_delivery_at(client, orders, world)
    page = pages.new()
    page.route(f"{TILE_HOST}/**", lambda route: route.fulfill(body=TILE_PNG, content_type="image/png"))
    page.goto(f"/t/{order['tracking_number']}")
    expect(page.locator("#map")).to_be_visible()
    expect(page.locator("#map .leaflet-tile-loaded").first).to_be_visible()
    expect(page.locator("#map .courier-marker")).to_have_count(1)
    expect(page.locator("#track-coordinates")).to_contain_text("Courier near 52.52, 13.405")
    expect(page.locator("#map-note")).to_be_hidden()


def test_public_page_follows_an_order_from_pending(pages, client, orders, world):
    order = orders.place(world.alice)
    page = pages.new()
    page.goto(f"/t/{order['tracking_number']}")
    expect(page.locator("#track-status")).to_have_text("Pending")
    expect(page.locator("#track-position")).to_be_hidden()
    expect(page.locator("#track-live")).to_have_text("● Live")
    orders.assign(world.admin, order["order_id"], world.dave)
    expect(page.locator("#track-status")).to_have_text("Assigned")
    assert timeline(page) == ["Pending", "Assigned"]
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    expect(page.locator("#track-status")).to_have_text("Out for Delivery")
    expect(page.locator("#track-coordinates")).to_have_text("Waiting for the courier's position…")


def test_unknown_tracking_number_shows_the_api_message(pages):
    page = pages.new()
    page.goto("/t/CT0000000000000000")
    expect(page.locator("#track-error")).to_have_text("Tracking number not found.")
    expect(page.locator("#track-body")).to_be_hidden()
