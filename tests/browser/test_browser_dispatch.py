"""The admin's Dispatch screen in a real browser: pending orders and on-shift couriers, Plan draws each route
as a coloured line with its ordered stops and ETAs and lists the unassigned with reasons, Apply assigns; then
the courier sees the stops in route order and re-plans."""

from datetime import UTC, datetime, timedelta

from helpers import order_row
from playwright.sync_api import expect

from .conftest import TILE_HOST, login, shoot
from .test_browser_tracking import TILE_PNG


def hhmm(delta_hours):
    return (datetime.now(UTC) + timedelta(hours=delta_hours)).strftime("%H:%M")


def on_shift(client, admin, courier, depot):
    body = {
        "depot_latitude": depot[0],
        "depot_longitude": depot[1],
        "shift_start": hhmm(-2),
        "shift_end": hhmm(8),
    }
    assert client.patch(f"/admin/couriers/{courier.id}", json=body, headers=admin.headers).status_code == 200
    assert client.post("/delivery/shift/start", headers=courier.headers).status_code == 200


def test_admin_plans_and_applies_then_the_courier_replans(pages, auth, orders, client, sql):
    admin, customer, dave, erin = auth.admin(), auth.customer(), auth.courier(), auth.courier()
    on_shift(client, admin, dave, (40.7128, -74.0060))
    on_shift(client, admin, erin, (40.7306, -73.9866))
    placed = [
        orders.place(
            customer,
            pickup_latitude=40.70 + 0.01 * i,
            pickup_longitude=-74.01 + 0.005 * i,
            delivery_latitude=40.74 - 0.008 * i,
            delivery_longitude=-73.98 - 0.004 * i,
            weight_kg=2,
        )
        for i in range(4)
    ]
    lost = orders.place(customer, delivery_address="Somewhere without coordinates")

    page = pages.new()
    page.route(f"{TILE_HOST}/**", lambda route: route.fulfill(body=TILE_PNG, content_type="image/png"))
    login(page, admin)
    page.locator("#nav a", has_text="Dispatch").click()
    expect(page.locator("#dispatch-pending li")).to_have_count(5)
    expect(page.locator("#dispatch-couriers li")).to_have_count(2)
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("#dispatch-result")).to_be_visible()
    expect(page.locator(".route-stop")).to_have_count(8)
    expect(page.locator(".route-stop").first).to_contain_text("Pick up #")
    expect(page.locator(".route-stop").first).to_contain_text("ETA")
    expect(page.locator("#dispatch-unassigned li")).to_have_count(1)
    expect(page.locator("#dispatch-unassigned li")).to_contain_text(f"#{lost['order_id']}: no_coordinates")
    routes = page.locator(".dispatch-route").count()
    expect(page.locator("#dispatch-map path.route-line")).to_have_count(routes)
    shoot(page, "admin-dispatch-plan", doc=True)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#flash")).to_have_text("Plan applied: 4 orders assigned.")
    expect(page.get_by_role("button", name="Apply")).to_be_disabled()
    expect(page.locator("#dispatch-pending li")).to_have_count(1)
    rows = [order_row(sql, o["order_id"]) for o in placed]
    assert all(row["status"] == "Assigned" for row in rows)
    assert order_row(sql, lost["order_id"])["status"] == "Pending"

    courier = dave if any(row["assigned_to"] == dave.id for row in rows) else erin
    mine = [row for row in rows if row["assigned_to"] == courier.id]
    phone = pages.new()
    login(phone, courier)
    expect(phone.locator("#route-stops li")).to_have_count(2 * len(mine))
    expect(phone.locator("#route-stops li").first).to_contain_text("ETA")
    phone.get_by_role("button", name="Re-plan").click()
    expect(phone.locator("#flash")).to_have_text("Route re-planned.")
    expect(phone.locator("#route-stops li")).to_have_count(2 * len(mine))
    shoot(phone, "courier-route", doc=True)


def test_dispatch_without_tiles_lists_coordinates(pages, auth, orders, client):
    admin, customer, dave = auth.admin(), auth.customer(), auth.courier()
    on_shift(client, admin, dave, (40.7128, -74.0060))
    orders.place(
        customer,
        pickup_latitude=40.71,
        pickup_longitude=-74.0,
        delivery_latitude=40.73,
        delivery_longitude=-73.99,
    )
    page = pages.new()
    page.route(f"{TILE_HOST}/**", lambda route: route.abort())
    login(page, admin)
    page.locator("#nav a", has_text="Dispatch").click()
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("#dispatch-map-note")).to_contain_text("coordinates only")
    expect(page.locator("#dispatch-map")).to_be_hidden()
    expect(page.locator(".route-stop .coordinates").first).to_contain_text("40.71000, -74.00000")


def test_plan_without_couriers_on_shift_says_so(pages, auth, orders):
    admin, customer = auth.admin(), auth.customer()
    orders.place(
        customer,
        pickup_latitude=40.71,
        pickup_longitude=-74.0,
        delivery_latitude=40.73,
        delivery_longitude=-73.99,
    )
    page = pages.new()
    login(page, admin)
    page.locator("#nav a", has_text="Dispatch").click()
    expect(page.locator("#dispatch-couriers-empty")).to_be_visible()
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("#dispatch-error")).to_contain_text("No courier is on shift")
