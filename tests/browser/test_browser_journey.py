"""The whole journey through the console in a real browser: a customer places an order, an admin assigns it,
the courier carries it to Delivered with the code shown under the customer's QR code, and the customer's open
order page shows every step live, without a reload."""

import re

from helpers import events, order_row
from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE, POSITION, login, shoot


def timeline_statuses(page):
    return page.locator("#order-timeline li").evaluate_all("items => items.map(i => i.dataset.status)")


def expect_step(page, status):
    """The customer's open page shows `status` as the order's status and as the timeline's last entry."""
    expect(page.locator("#order-status")).to_have_text(status)
    expect(page.locator("#order-timeline li").last).to_have_attribute("data-status", status)


def test_order_journey_customer_admin_courier_live(pages, auth, sql):
    customer, admin, courier = auth.customer(), auth.admin(), auth.courier()

    # The customer places an order and stays on its page.
    shopper = pages.new(viewport=PHONE)
    login(shopper, customer)
    shopper.get_by_label("Recipient name").fill("Rita Recipient")
    shopper.get_by_label("Recipient phone").fill("+49 30 1234567")
    shopper.get_by_label("Delivery address").fill("1 Delivery Road, Berlin")
    shopper.get_by_label("Description").fill("Birthday present")
    shopper.get_by_label("Weight (kg)").fill("1.25")
    shopper.get_by_role("button", name="Place order").click()
    expect_step(shopper, "Pending")
    expect(shopper.locator("#flash")).to_contain_text("Order placed")
    order_id = int(shopper.locator("#order-id").inner_text().lstrip("#"))
    row = order_row(sql, order_id)
    assert row["customer_id"] == customer.id and row["recipient_name"] == "Rita Recipient"
    assert float(row["weight_kg"]) == 1.25 and row["status"] == "Pending"
    expect(shopper.locator("#order-tracking")).to_have_text(row["tracking_number"])
    expect(shopper.locator("#order-live")).to_have_text("● Live")

    # The QR code image (a PNG fetched with the token) and the code as text under it.
    expect(shopper.locator("#order-qr")).to_be_visible()
    assert shopper.locator("#order-qr").evaluate("img => img.complete && img.naturalWidth > 0")
    expect(shopper.locator("#order-code")).to_have_text(re.compile(r"^[0-9A-Z]{5} [0-9A-Z]{5}$"))
    code = shopper.locator("#order-code").inner_text()
    shopper.evaluate("window.stillTheSamePage = true")  # gone if the page ever reloads
    shoot(shopper, "customer-order-phone", doc=True)

    # An admin assigns it from the orders screen.
    office = pages.new(viewport=DESKTOP)
    login(office, admin)
    office.get_by_role("link", name="Orders").click()
    order_line = office.locator(f"#admin-orders tr[data-order-id='{order_id}']")
    order_line.get_by_role("combobox").select_option(label=courier.name)
    order_line.get_by_role("button", name="Assign").click()
    expect(office.locator("#flash")).to_contain_text(f"Order #{order_id} assigned to {courier.name}")
    expect(order_line.locator(".badge")).to_have_text("Assigned")
    assert order_row(sql, order_id)["assigned_to"] == courier.id
    expect_step(shopper, "Assigned")
    expect(shopper.locator("#order-courier")).to_have_text(courier.name)

    # The courier picks it up and takes it out for delivery, sharing the phone's position.
    van = pages.new(viewport=PHONE, geolocation=POSITION, permissions=["geolocation"])
    login(van, courier)
    card = van.locator(f"#courier-orders li[data-order-id='{order_id}']")
    expect(card.get_by_role("button")).to_have_text(["Picked Up"])
    card.get_by_role("button", name="Picked Up").click()
    expect(card.locator(".badge")).to_have_text("Picked Up")
    expect_step(shopper, "Picked Up")
    card.get_by_role("button", name="Out for Delivery").click()
    expect(card.locator(".badge")).to_have_text("Out for Delivery")
    expect_step(shopper, "Out for Delivery")
    van.get_by_role("button", name="Share my location").click()
    expect(van.locator("#location-status")).to_contain_text("Location shared")
    expect(shopper.locator("#order-position")).to_contain_text("52.52001, 13.40495")
    shoot(van, "courier-assigned-phone", doc=True)

    # The courier types the code read out from under the customer's QR code.
    card.get_by_label("Delivery code").fill(code)
    card.get_by_role("button", name="Confirm delivery").click()
    expect(van.locator("#flash")).to_contain_text(f"Order #{order_id} is delivered")
    expect(card).to_have_count(0)
    expect(van.locator("#courier-empty")).to_be_visible()

    # The customer's page followed every step live, on the same page, and the QR code is gone.
    expect_step(shopper, "Delivered")
    assert timeline_statuses(shopper) == [
        "Pending",
        "Assigned",
        "Picked Up",
        "Out for Delivery",
        "Delivered",
    ]
    assert shopper.evaluate("window.stillTheSamePage") is True
    expect(shopper.locator("#order-qr-card")).to_be_hidden()
    shoot(shopper, "customer-delivered-phone")

    stored = order_row(sql, order_id)
    assert stored["status"] == "Delivered" and stored["closed_at"] is not None
    delivered = [e for e in events(sql, order_id, "status") if e["status"] == "Delivered"]
    assert len(delivered) == 1 and delivered[0]["proof"] == "code"
    assert delivered[0]["actor_role"] == "delivery_person" and delivered[0]["actor_id"] == courier.id
    assert len(events(sql, order_id, "location")) == 0  # shared positions are no timeline events
