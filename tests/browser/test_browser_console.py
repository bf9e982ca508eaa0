"""The console's screens one by one in a real browser: errors in plain words, sessions, the courier's
failed attempts and wrong codes, the admin's screens, and a phone-sized screen."""

import json
from datetime import timedelta

import pytest
import segno
from flask_jwt_extended import create_access_token, decode_token
from helpers import count, events, order_row
from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE, Pages, launch, login, no_horizontal_scroll, shoot


def out_for_delivery(orders, customer, admin, courier, **body):
    """A new order placed, assigned and taken Out for Delivery through the API."""
    order = orders.place(customer, **body)
    orders.assign(admin, order["order_id"], courier)
    return orders.move(courier, order["order_id"], "Picked Up", "Out for Delivery")


# ------------------------------------------------------------------------------------ Logging in and out


def test_wrong_password_shows_the_api_message(pages, auth):
    customer = auth.customer()
    page = pages.new()
    page.goto("/")
    form = page.locator("#login-form")
    form.get_by_label("Email or username").fill(customer.login)
    form.get_by_label("Password").fill("not-the-password")
    form.get_by_role("button", name="Log in").click()
    expect(form.get_by_role("alert")).to_have_text("Invalid credentials.")
    expect(page.locator("#who")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    shoot(page, "login-wrong-password")


def test_admin_logs_in_with_username_and_logs_out(pages, auth, sql):
    admin = auth.admin()
    page = pages.new()
    login(page, admin)
    expect(page.locator("#who-name")).to_have_text(f"{admin.login} · Admin")
    expect(page.locator("#nav a")).to_have_text(
        ["Dashboard", "Orders", "Import", "Users", "Issues", "Dispatch"]
    )
    stored = json.loads(page.evaluate("sessionStorage.getItem('courier.session')"))
    assert (
        stored["role"] == "admin" and stored["id"] == admin.id and stored["token"] and stored["refresh_token"]
    )
    live_before = count(
        sql, "auth_sessions", "user_type = 'admin' AND user_id = %s AND revoked_at IS NULL", (admin.id,)
    )
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#view-login")).to_be_visible()
    expect(page.locator("#flash")).to_have_text("You are logged out.")
    assert page.evaluate("sessionStorage.getItem('courier.session')") is None
    live_after = count(
        sql, "auth_sessions", "user_type = 'admin' AND user_id = %s AND revoked_at IS NULL", (admin.id,)
    )
    assert live_after == live_before - 1  # the console's session ended on the server too


def test_an_expired_token_is_refreshed_and_a_revoked_session_asks_to_log_in(pages, app, auth, orders, sql):
    customer = auth.customer()
    order = orders.place(customer)
    with app.app_context():
        claims = decode_token(customer.token)
        expired = create_access_token(
            identity=claims["sub"],
            additional_claims={"role": claims["role"], "sid": claims["sid"]},
            expires_delta=timedelta(seconds=-60),
        )
    stored = {
        "token": expired,
        "refresh_token": customer.refresh_token,
        "role": "customer",
        "id": customer.id,
    }
    page = pages.new()
    page.goto("/")
    page.evaluate(
        "s => sessionStorage.setItem('courier.session', JSON.stringify(s))",
        {**stored, "login": customer.login},
    )
    page.goto("/#/orders")
    expect(page.locator(f"#customer-orders li[data-order-id='{order['order_id']}']")).to_be_visible()
    token = json.loads(page.evaluate("sessionStorage.getItem('courier.session')"))["token"]
    assert token != expired  # POST /refresh gave a new access token

    sql("UPDATE auth_sessions SET revoked_at = UTC_TIMESTAMP(6) WHERE session_id = %s", (claims["sid"],))
    page.reload()
    expect(page.locator("#login-form").get_by_role("alert")).to_have_text(
        "Your session has ended (Token has been revoked). Please log in again."
    )
    assert page.evaluate("sessionStorage.getItem('courier.session')") is None


# ------------------------------------------------------------------------------------ Customer


def test_placing_an_order_without_the_required_fields_says_which(pages, auth, sql):
    customer = auth.customer()
    page = pages.new()
    login(page, customer)
    page.get_by_label("Recipient name").fill("   ")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#place-order-form").get_by_role("alert")).to_have_text(
        "Missing required fields. Delivery address: required. Recipient name: required."
    )
    page.get_by_label("Recipient name").fill("Rita")
    page.get_by_label("Delivery address").fill("1 Road")
    page.get_by_label("Weight (kg)").fill("-2")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#place-order-form").get_by_role("alert")).to_have_text(
        "weight_kg must be at least 0.001."
    )
    assert count(sql, "orders") == 0


def test_my_orders_pages_with_load_more(pages, auth, orders):
    customer = auth.customer()
    placed = [orders.place(customer, recipient_name=f"Recipient {i}") for i in range(22)]
    page = pages.new()
    login(page, customer)
    items = page.locator("#customer-orders li")
    expect(items).to_have_count(20)
    expect(items.first).to_contain_text(f"Order #{placed[-1]['order_id']}")  # newest first
    page.get_by_role("button", name="Load more").click()
    expect(items).to_have_count(22)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    items.last.get_by_role("link").click()
    expect(page.locator("#order-id")).to_have_text(f"#{placed[0]['order_id']}")
    expect(page.locator("#order-recipient")).to_have_text("Recipient 0")


def test_someone_elses_order_shows_not_found(pages, auth, orders):
    alice, bob = auth.customer(), auth.customer()
    order = orders.place(alice)
    page = pages.new()
    login(page, bob)
    page.goto(f"/#/orders/{order['order_id']}")
    expect(page.locator("#order-error")).to_have_text("Order not found.")
    expect(page.locator("#order-qr-card")).to_be_hidden()


# ------------------------------------------------------------------------------------ Courier


def test_wrong_code_and_locked_order_are_shown_plainly(pages, auth, orders, sql):
    customer, admin, courier = auth.customer(), auth.admin(), auth.courier()
    order = out_for_delivery(orders, customer, admin, courier)
    order_id = order["order_id"]
    page = pages.new(viewport=PHONE)
    login(page, courier)
    card = page.locator(f"#courier-orders li[data-order-id='{order_id}']")
    card.get_by_label("Delivery code").fill("AAAAA BBBBB")
    card.get_by_role("button", name="Confirm delivery").click()
    alert = card.get_by_role("alert")
    expect(alert).to_contain_text("Wrong delivery code.")
    expect(alert).to_contain_text("4 attempts left before the order is locked.")
    shoot(page, "courier-wrong-code-phone")
    row = order_row(sql, order_id)
    assert row["status"] == "Out for Delivery" and row["code_failures"] == 1

    # Locked (as after five wrong codes): even the right code is refused until an admin reviews it.
    sql("UPDATE orders SET delivery_locked_at = UTC_TIMESTAMP(6) WHERE order_id = %s", (order_id,))
    card.get_by_label("Delivery code").fill(orders.code(order_id))
    card.get_by_role("button", name="Confirm delivery").click()
    expect(alert).to_have_text(
        "Delivery is locked after too many wrong codes: an admin must review this order."
    )
    assert order_row(sql, order_id)["status"] == "Out for Delivery"


def test_failed_attempt_with_a_reason_then_returned(pages, auth, orders, sql):
    customer, admin, courier = auth.customer(), auth.admin(), auth.courier()
    order_id = out_for_delivery(orders, customer, admin, courier)["order_id"]
    page = pages.new(viewport=PHONE)
    login(page, courier)
    card = page.locator(f"#courier-orders li[data-order-id='{order_id}']")
    card.get_by_label("Reason").select_option(label="Address not found")
    card.get_by_role("button", name="Failed Attempt").click()
    expect(card.locator(".badge")).to_have_text("Failed Attempt")
    expect(card.get_by_role("button")).to_have_text(["Out for Delivery", "Returned"])
    failed = events(sql, order_id, "status")[-1]
    assert failed["status"] == "Failed Attempt" and failed["reason"] == "address_not_found"
    card.get_by_role("button", name="Returned").click()
    expect(card).to_have_count(0)
    expect(page.locator("#flash")).to_have_text(f"Order #{order_id} is now Returned.")
    assert order_row(sql, order_id)["status"] == "Returned"


def test_location_permission_denied_is_explained(pages, auth):
    courier = auth.courier()
    page = pages.new(viewport=PHONE)  # no geolocation permission granted
    login(page, courier)
    expect(page.locator("#courier-empty")).to_be_visible()
    page.get_by_role("button", name="Share my location").click()
    expect(page.locator("#location-error")).to_have_text(
        "Location permission was denied: allow this site to use your location to share it."
    )
    expect(page.get_by_role("button", name="Share my location")).to_have_attribute("aria-pressed", "false")


# ------------------------------------------------------------------------------------ Admin


def test_admin_filters_orders_and_reassigns(pages, auth, orders, sql):
    customer, admin = auth.customer(), auth.admin()
    first, second = auth.courier(), auth.courier()
    pending = orders.place(customer, recipient_name="Pending Person")
    assigned = orders.place(customer, recipient_name="Assigned Person")
    orders.assign(admin, assigned["order_id"], first)
    page = pages.new()
    login(page, admin)
    page.get_by_role("link", name="Orders").click()
    rows = page.locator("#admin-orders tbody tr")
    expect(rows).to_have_count(2)
    page.locator("#order-filters").get_by_label("Status").select_option("Pending")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Pending Person")
    page.locator("#order-filters").get_by_label("Status").select_option("")
    page.locator("#order-filters").get_by_label("Courier").select_option(label=f"{first.name} (#{first.id})")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    line = page.locator(f"#admin-orders tr[data-order-id='{assigned['order_id']}']")
    line.get_by_role("combobox").select_option(label=second.name)
    line.get_by_role("button", name="Reassign").click()
    expect(page.locator("#flash")).to_have_text(f"Order #{assigned['order_id']} assigned to {second.name}.")
    assert order_row(sql, assigned["order_id"])["assigned_to"] == second.id
    page.locator("#order-filters").get_by_label("Courier").select_option("")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    shoot(page, "admin-orders", doc=True)
    # Assigning with no courier chosen is refused before any request.
    line = page.locator(f"#admin-orders tr[data-order-id='{pending['order_id']}']")
    line.get_by_role("button", name="Assign").click()
    expect(line.get_by_role("alert")).to_have_text("Choose a courier first.")
    assert order_row(sql, pending["order_id"])["status"] == "Pending"


def test_admin_registers_couriers_and_admins(pages, auth, sql):
    admin = auth.admin()
    page = pages.new()
    login(page, admin)
    page.get_by_role("link", name="Users").click()
    form = page.locator("#register-form")
    form.get_by_label("Name", exact=True).fill("Carla Courier")
    form.get_by_label("Email").fill("carla@example.test")
    form.get_by_label("Phone").fill("+49 170 555")
    form.get_by_label("Password").fill("courier-pass-1")
    form.get_by_role("button", name="Register").click()
    expect(page.locator("#flash")).to_contain_text("Delivery person registered: Carla Courier")
    expect(page.locator("#users tbody")).to_contain_text("carla@example.test")
    row = sql("SELECT * FROM delivery_persons WHERE email = %s", ("carla@example.test",), one=True)
    assert row["name"] == "Carla Courier" and row["phone"] == "+49 170 555"

    # The same email again: the API's 409 message.
    form.get_by_label("Name", exact=True).fill("Carla Again")
    form.get_by_label("Email").fill("carla@example.test")
    form.get_by_label("Password").fill("courier-pass-1")
    form.get_by_role("button", name="Register").click()
    expect(form.get_by_role("alert")).to_contain_text("already")
    assert count(sql, "delivery_persons", "email = %s", ("carla@example.test",)) == 1

    form.get_by_label("Account type").select_option("admin")
    expect(form.get_by_label("Email")).to_be_hidden()
    form.get_by_label("Username").fill("x")
    form.get_by_label("Password").fill("admin-pass-12")
    form.get_by_role("button", name="Register").click()
    expect(form.get_by_role("alert")).to_have_text("username must be 3-64 letters, digits or _.@-.")
    form.get_by_label("Username").fill("second.admin")
    form.get_by_role("button", name="Register").click()
    expect(page.locator("#flash")).to_contain_text("Admin registered: second.admin")
    assert count(sql, "admins", "username = %s", ("second.admin",)) == 1

    page.locator("#user-filters").get_by_label("Type").select_option("delivery_person")
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(page.locator("#users tbody")).to_contain_text("Carla Courier")
    shoot(page, "admin-users")


def test_admin_answers_an_issue(pages, auth, client, sql):
    admin, customer = auth.admin(), auth.customer()
    raised = client.post("/raise-issue", json={"message": "Where is my parcel?"}, headers=customer.headers)
    issue_id = raised.get_json()["issue"]["issue_id"]
    page = pages.new()
    login(page, admin)
    page.get_by_role("link", name="Issues").click()
    card = page.locator(f"#issues li[data-issue-id='{issue_id}']")
    expect(card).to_contain_text("Where is my parcel?")
    expect(card.locator(".badge")).to_have_text("Open")
    card.get_by_label(f"Response to issue #{issue_id}").fill("It is on its way.")
    card.get_by_label(f"Status of issue #{issue_id}").select_option("Resolved")
    card.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_have_text(f"Issue #{issue_id} saved.")
    expect(page.locator(f"#issues li[data-issue-id='{issue_id}'] .badge")).to_have_text("Resolved")
    row = sql("SELECT * FROM issues WHERE issue_id = %s", (issue_id,), one=True)
    assert row["response"] == "It is on its way." and row["status"] == "Resolved"
    shoot(page, "admin-issues")


def test_admin_dashboard_draws_the_analytics(pages, auth, orders, client):
    admin, customer, courier = auth.admin(), auth.customer(), auth.courier()
    for _ in range(2):
        delivered = orders.delivered(customer, admin, courier)
    client.post(
        "/customer/feedback",
        json={"order_id": delivered["order_id"], "feedback": "Fast", "rating": 5},
        headers=customer.headers,
    )
    failed = out_for_delivery(orders, customer, admin, courier)
    orders.move(courier, failed["order_id"], "Failed Attempt")
    orders.place(customer)
    client.post("/raise-issue", json={"message": "Late"}, headers=customer.headers)
    page = pages.new()
    login(page, admin)
    expect(page.locator("#analytics")).to_be_visible()
    kpis = page.locator("#kpis .kpi")
    expect(kpis.filter(has_text="Orders").locator(".kpi-value")).to_have_text("4")
    expect(kpis.filter(has_text="Open issues").locator(".kpi-value")).to_have_text("1")
    expect(kpis.filter(has_text="Average rating").locator(".kpi-value")).to_have_text("5.00 / 5")
    # One bar per status present: Pending, Delivered, Failed Attempt.
    expect(page.locator("#chart-by-status rect")).to_have_count(3)
    expect(page.locator("#chart-by-status")).to_contain_text("Failed Attempt")
    expect(page.locator("#chart-per-day polyline")).to_have_count(2)
    courier_row = page.locator("#analytics-couriers tbody tr", has_text=courier.name)
    expect(courier_row.locator("td").nth(1)).to_have_text("2")
    expect(courier_row.locator("td").nth(2)).to_have_text("1")
    shoot(page, "admin-dashboard", doc=True)


# ------------------------------------------------------------------------------------ Phone-sized screens


@pytest.mark.parametrize("role", ["customer", "courier", "admin"])
def test_phone_screens_have_no_horizontal_scroll(pages, auth, orders, role):
    customer, admin, courier = auth.customer(), auth.admin(), auth.courier()
    out_for_delivery(
        orders,
        customer,
        admin,
        courier,
        delivery_address="Very Long Street Name " * 6,
        recipient_name="R" * 60,
    )
    user = {"customer": customer, "courier": courier, "admin": admin}[role]
    page = pages.new(viewport=PHONE)
    login(page, user)
    links = page.locator("#nav a")
    expect(links.first).to_be_visible()
    for i in range(links.count()):
        links.nth(i).click()
        expect(links.nth(i)).to_have_attribute("aria-current", "page")
        page.wait_for_load_state("networkidle")
        no_horizontal_scroll(page)
    if role == "customer":
        page.locator("#customer-orders li a").first.click()
        expect(page.locator("#order-status")).to_have_text("Out for Delivery")
        no_horizontal_scroll(page)
    if role == "admin":
        links.first.click()
        shoot(page, "admin-dashboard-phone")
    if role == "courier":
        expect(page.locator("#courier-orders li")).to_have_count(1)
    no_horizontal_scroll(page)


def test_desktop_screens(pages, auth):
    """The login screen as a new user first sees it."""
    page = pages.new(viewport=DESKTOP)
    page.goto("/")
    expect(page.locator("#login-form")).to_be_visible()
    shoot(page, "login", doc=True)


def camera_video(path, text, width=320, height=240):
    """A Y4M video (Chromium's fake camera) whose frames show the QR code of `text`, white around it."""
    rows = list(segno.make_qr(text, error="m").matrix_iter(scale=6, border=4))
    top, left = (height - len(rows)) // 2, (width - len(rows[0])) // 2
    luma = bytearray(b"\xff" * (width * height))
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                luma[(top + y) * width + left + x] = 0
    chroma = b"\x80" * (width * height // 2)  # both 4:2:0 chroma planes: grey
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            video.write(b"FRAME\n" + bytes(luma) + chroma)
    return path


def test_scanning_the_qr_code_with_the_camera_confirms_delivery(
    playwright, pages, auth, orders, sql, tmp_path
):
    """Chromium's fake camera shows the customer's QR code; jsQR reads it and the delivery is confirmed."""
    customer, admin, courier = auth.customer(), auth.admin(), auth.courier()
    order_id = out_for_delivery(orders, customer, admin, courier)["order_id"]
    video = camera_video(tmp_path / "qr.y4m", orders.code(order_id))
    camera = launch(
        playwright,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        opened = Pages(camera, pages.base_url)
        phone = opened.new(viewport=PHONE, permissions=["camera"])
        login(phone, courier)
        card = phone.locator(f"#courier-orders li[data-order-id='{order_id}']")
        card.get_by_role("button", name="Scan QR code").click()
        expect(phone.locator("#flash")).to_have_text(f"Order #{order_id} is delivered.")
        expect(card).to_have_count(0)
        opened.close()
        assert not opened.problems, opened.problems
    finally:
        camera.close()
    stored = order_row(sql, order_id)
    assert stored["status"] == "Delivered" and stored["code_failures"] == 0
    assert events(sql, order_id, "status")[-1]["proof"] == "code"
