"""Proof of delivery, labels and imports in a real browser: a courier captures a signature and a photo and
delivers, opens an order by its label, and an admin imports orders from a CSV file."""

import io

from helpers import count, events, order_row
from PIL import Image
from playwright.sync_api import expect

from .conftest import PHONE, login, shoot


def photo_bytes():
    image = Image.new("RGB", (320, 240), (40, 120, 200))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def out_for_delivery(orders, customer, admin, courier):
    order = orders.place(customer)
    orders.assign(admin, order["order_id"], courier)
    return orders.move(courier, order["order_id"], "Picked Up", "Out for Delivery")


def sign(page, canvas):
    """Draw a signature on the canvas with the mouse (pointer events, as a finger would)."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + 20, box["y"] + box["height"] * 0.6
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(x + step * 20, y - (30 if step % 2 else 0), steps=3)
    page.mouse.up()


def test_courier_captures_a_signature_and_a_photo_and_delivers(pages, world, orders, sql):
    order = out_for_delivery(orders, world.alice, world.admin, world.dave)
    order_id = order["order_id"]
    page = pages.new(viewport=PHONE)
    login(page, world.dave)
    card = page.locator(f"#courier-orders li[data-order-id='{order_id}']")
    expect(card.locator(".badge")).to_have_text("Out for Delivery")
    card.get_by_label("Delivery code").fill(orders.code(order_id))
    card.get_by_label("Photo of the delivery").set_input_files(
        {"name": "door.jpg", "mimeType": "image/jpeg", "buffer": photo_bytes()}
    )
    assert card.get_by_label("Photo of the delivery").get_attribute("capture") == "environment"
    sign(page, card.locator("canvas.signature-pad"))
    shoot(page, "courier-proof-phone", doc=True)
    card.get_by_role("button", name="Deliver with proof").click()
    expect(page.locator("#flash")).to_contain_text(f"Order #{order_id} is delivered with proof")
    expect(card).to_have_count(0)

    assert order_row(sql, order_id)["status"] == "Delivered"
    assert events(sql, order_id, "status")[-1]["proof"] == "code,photo,signature"
    files = sql(
        "SELECT kind, content_type, size_bytes FROM order_proofs WHERE order_id = %s ORDER BY kind",
        (order_id,),
    )
    assert [(f["kind"], f["content_type"]) for f in files] == [
        ("photo", "image/jpeg"),
        ("signature", "image/png"),
    ]
    assert all(f["size_bytes"] > 100 for f in files)


def test_a_signature_is_only_sent_once_drawn(pages, world, orders, sql):
    order = out_for_delivery(orders, world.alice, world.admin, world.dave)
    page = pages.new()
    login(page, world.dave)
    card = page.locator(f"#courier-orders li[data-order-id='{order['order_id']}']")
    card.get_by_label("Delivery code").fill(orders.code(order["order_id"]))
    sign(page, card.locator("canvas.signature-pad"))
    card.get_by_role("button", name="Clear signature").click()
    card.get_by_role("button", name="Deliver with proof").click()
    expect(page.locator("#flash")).to_contain_text("is delivered with proof")
    assert count(sql, "order_proofs") == 0  # a code alone, nothing drawn: no file
    assert events(sql, order["order_id"], "status")[-1]["proof"] == "code"


def test_courier_opens_an_order_by_its_label(pages, world, orders):
    first = out_for_delivery(orders, world.alice, world.admin, world.dave)
    second = out_for_delivery(orders, world.alice, world.admin, world.dave)
    page = pages.new()
    login(page, world.dave)
    expect(page.locator("#courier-orders li")).to_have_count(2)
    form = page.locator("#find-parcel")
    # What a handheld scanner types from the Code 128, or the URL in the label's QR code.
    form.get_by_label("Tracking number").fill(f"http://127.0.0.1:5000/t/{second['tracking_number']}")
    form.get_by_role("button", name="Open").click()
    expect(page.locator(f"#courier-orders li[data-order-id='{second['order_id']}']")).to_have_class(
        "card order-card found"
    )
    form.get_by_label("Tracking number").fill(first["tracking_number"].lower())
    form.get_by_role("button", name="Open").click()
    expect(page.locator("#courier-orders li.found")).to_have_attribute(
        "data-order-id", str(first["order_id"])
    )
    form.get_by_label("Tracking number").fill("CTNOTMINE")
    form.get_by_role("button", name="Open").click()
    expect(form.get_by_role("alert")).to_contain_text("not among your assigned orders")


def test_admin_imports_orders_and_sees_the_row_report(pages, world, sql):
    page = pages.new()
    login(page, world.admin)
    page.locator("#nav a", has_text="Import").click()
    csv_text = (
        "customer_id,delivery_address,recipient_name,weight_kg\n"
        f"{world.alice.id},1 Import Road,Ivy,1.5\n"
        f"{world.alice.id},,Jack,\n"
        f"{world.bob.id},2 Import Road,=cmd,\n"
    )
    form = page.locator("#import-form")
    form.get_by_label("CSV file").set_input_files(
        {"name": "orders.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}
    )
    form.get_by_label("Only check the file (dry run)").check()
    form.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("3 rows checked: 1 valid, 2 with errors")
    assert count(sql, "orders") == 0
    form.get_by_label("Only check the file (dry run)").uncheck()
    form.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("1 orders created")
    rows = page.locator("#import-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("delivery_address: required")
    expect(rows.nth(2)).to_contain_text("formula")
    expect(page.locator("#import-errors")).to_be_visible()
    shoot(page, "admin-import", doc=True)
    # Pressing Import again with the same file creates nothing twice (same Idempotency-Key).
    form.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("1 orders created")
    assert count(sql, "orders") == 1
