"""The ETA window on the public tracking page /t/<tracking number>, in a real browser (in UTC)."""

from datetime import datetime

from playwright.sync_api import expect

from .conftest import POSITION, login


def hhmm(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%H:%M")


def test_public_page_shows_the_eta_window_and_stops_before(pages, client, orders, world):
    # Two stops on Dave's list: the first order 1 km north of him, the tracked one 1 km further.
    lat, lng = POSITION["latitude"], POSITION["longitude"]
    first = orders.place(world.alice, delivery_latitude=lat + 0.009, delivery_longitude=lng)
    tracked = orders.place(world.alice, delivery_latitude=lat + 0.018, delivery_longitude=lng)
    for order in (first, tracked):
        orders.assign(world.admin, order["order_id"], world.dave)
        orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    moved = client.patch("/delivery/update-location", json=POSITION, headers=world.dave.headers)
    assert moved.status_code == 200, moved.get_json()
    eta = client.get(f"/track/{tracked['tracking_number']}").get_json()["eta"]
    assert eta["stops_before"] == 1

    page = pages.new(timezone_id="UTC")
    page.goto(f"/t/{tracked['tracking_number']}")
    expect(page.locator("#track-eta-window")).to_have_text(
        f"Arriving between {hhmm(eta['earliest'])} and {hhmm(eta['latest'])}"
    )
    expect(page.locator("#track-eta-stops")).to_have_text("· 1 stop before yours")

    # The customer's order page says the same.
    shopper = pages.new(timezone_id="UTC")
    login(shopper, world.alice)
    shopper.goto(f"/#/orders/{tracked['order_id']}")
    expect(shopper.locator("#order-eta")).to_have_text(
        f"Arriving between {hhmm(eta['earliest'])} and {hhmm(eta['latest'])} · 1 stop before yours"
    )

    # The first stop is delivered: the page follows without a reload and the tracked order is next.
    orders.move(world.dave, first["order_id"], "Delivered")
    client.patch("/delivery/update-location", json=POSITION, headers=world.dave.headers)
    orders.move(world.dave, tracked["order_id"], "Failed Attempt", "Out for Delivery")
    expect(page.locator("#track-eta-stops")).to_have_text("· you are the next stop")


def test_admin_console_marks_late_risk_orders(pages, client, orders, world, sql):
    order = orders.place(
        world.alice, delivery_latitude=POSITION["latitude"] + 0.5, delivery_longitude=POSITION["longitude"]
    )
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    sql("UPDATE orders SET late_risk = 1 WHERE order_id = %s", (order["order_id"],))
    office = pages.new()
    login(office, world.admin)
    office.goto("/#/orders")
    line = office.locator(f"#admin-orders tr[data-order-id='{order['order_id']}']")
    expect(line.locator(".late-risk")).to_have_text("Late risk")
