"""Authorisation matrix: every route of the app's URL map, called as anonymous, as each role and, for
routes about one object, as its owner and as another user of the same role.

What each caller must get comes from the route's declaration (courier/routes.py), the same one that
enforces it and documents it: no login declared, every caller gets the declared success status; roles
declared, anonymous gets 401, every role left out 403, every role named the success status. CALLS only says
how to call each route (a request that succeeds for an allowed caller), and OWNED which routes are about
one object of the caller's (another user of the same role gets 404). A new route without an entry in CALLS
fails test_every_route_has_a_call.
"""

from dataclasses import dataclass

import pytest
from conftest import PASSWORD, _config

from app1 import create_app
from courier import routes
from courier.vocabulary import ROLES

ANON, ADMIN, CUSTOMER, COURIER = "anonymous", "admin", "customer", "delivery_person"
OTHER_CUSTOMER, OTHER_COURIER = "other_customer", "other_delivery_person"
OTHER = {CUSTOMER: OTHER_CUSTOMER, COURIER: OTHER_COURIER}
BASE_CALLERS = (ANON, ADMIN, CUSTOMER, COURIER)
ERROR_KEYS = {"error", "code"}


def declared_routes():
    """{(method, rule): its declaration} of every route the app serves, but static files, HEAD and OPTIONS."""
    app = create_app(_config())
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(method, rule.rule)] = routes.declaration(app, rule.endpoint)
    return dict(sorted(found.items(), key=lambda item: (item[0][1], item[0][0])))


DECLARED = declared_routes()
ROUTES = list(DECLARED)


def expected_statuses(route, owned):
    """What each caller must get, from the declaration."""
    success = next(status for status in route.responses if 200 <= status < 300)
    if not route.roles:
        return dict.fromkeys(BASE_CALLERS, success)
    expected = {ANON: 401, **{role: success if role in route.roles else 403 for role in ROLES}}
    if owned:
        for role in route.roles:
            expected[OTHER[role]] = 404
    return expected


@dataclass
class Ctx:
    """The world of one case: logged-in users and orders in the states the routes need."""

    users: dict
    pending: dict
    assigned: dict
    delivered: dict
    failed: dict
    issue_id: int
    victim_id: int
    out_for_delivery: dict  # with its delivery "code"
    locked_id: int  # an Out for Delivery order locked after wrong codes
    webhook_id: int
    notification_id: int  # a failed notification
    plan_id: int = 0  # a dispatch plan (OTHER_COURIER is on shift)
    start_shift: object = None  # puts a caller on shift (for POST /delivery/shift/end)


def own_login_body(ctx, who):
    user = ctx.users.get(who)
    if user is None:
        return {"email": ctx.users[CUSTOMER].login, "password": PASSWORD}
    key = "username" if user.role == "admin" else "email"
    return {key: user.login, "password": PASSWORD}


def refresh_header(ctx, who):
    user = ctx.users.get(who)
    return {"Authorization": f"Bearer {user.refresh_token}"} if user else {}


# (method, rule) -> how to call it: (ctx, caller) -> (path, request kwargs)
CALLS = {
    # Health and documentation: public.
    ("GET", "/healthz"): lambda c, w: ("/healthz", {}),
    ("GET", "/readyz"): lambda c, w: ("/readyz", {}),
    ("GET", "/openapi.json"): lambda c, w: ("/openapi.json", {}),
    ("GET", "/docs"): lambda c, w: ("/docs", {}),
    ("GET", "/docs/<path:filename>"): lambda c, w: ("/docs/swagger-initializer.js", {}),
    # The web console and the public tracking page (HTML; the data comes from the API).
    ("GET", "/"): lambda c, w: ("/", {}),
    ("GET", "/t/<tracking_number>"): lambda c, w: (f"/t/{c.delivered['tracking_number']}", {}),
    # Public tracking by tracking number (a finished order, so its stream ends).
    ("GET", "/track/<tracking_number>"): lambda c, w: (f"/track/{c.delivered['tracking_number']}", {}),
    ("GET", "/track/<tracking_number>/events"): lambda c, w: (
        f"/track/{c.delivered['tracking_number']}/events",
        {},
    ),
    # Authentication and accounts.
    ("POST", "/signup"): lambda c, w: (
        "/signup",
        {"json": {"name": "N", "email": f"new-{w}@example.com", "password": PASSWORD, "address": "1 St"}},
    ),
    ("POST", "/login"): lambda c, w: ("/login", {"json": own_login_body(c, w)}),
    ("POST", "/register"): lambda c, w: (
        "/register",
        {"json": {"user_type": "admin", "username": f"new_{w}", "password": PASSWORD}},
    ),
    ("POST", "/refresh"): lambda c, w: ("/refresh", {"headers": refresh_header(c, w)}),
    ("POST", "/logout"): lambda c, w: ("/logout", {}),
    ("POST", "/change-password"): lambda c, w: (
        "/change-password",
        {"json": {"old_password": PASSWORD, "new_password": "changed-pw1"}},
    ),
    # Admin.
    ("GET", "/admin/users"): lambda c, w: ("/admin/users", {}),
    ("GET", "/admin/orders"): lambda c, w: ("/admin/orders", {}),
    ("GET", "/admin/issues"): lambda c, w: ("/admin/issues", {}),
    ("PATCH", "/admin/issues"): lambda c, w: (
        "/admin/issues",
        {"json": {"issue_id": c.issue_id, "response": "On it"}},
    ),
    ("POST", "/admin/assign-delivery"): lambda c, w: (
        "/admin/assign-delivery",
        {"json": {"order_id": c.pending["order_id"], "delivery_person_id": c.users[COURIER].id}},
    ),
    ("POST", "/admin/cancel-order/<int:order_id>"): lambda c, w: (
        f"/admin/cancel-order/{c.pending['order_id']}",
        {},
    ),
    ("POST", "/admin/return-order/<int:order_id>"): lambda c, w: (
        f"/admin/return-order/{c.failed['order_id']}",
        {},
    ),
    ("DELETE", "/admin/delete-user/<user_type>/<int:user_id>"): lambda c, w: (
        f"/admin/delete-user/customer/{c.victim_id}",
        {},
    ),
    ("GET", "/admin/orders/export.csv"): lambda c, w: ("/admin/orders/export.csv", {}),
    ("GET", "/admin/analytics"): lambda c, w: ("/admin/analytics", {}),
    ("POST", "/admin/override-delivery/<int:order_id>"): lambda c, w: (
        f"/admin/override-delivery/{c.out_for_delivery['order_id']}",
        {"json": {"reason": "Recipient confirmed by phone"}},
    ),
    ("POST", "/admin/unlock-delivery/<int:order_id>"): lambda c, w: (
        f"/admin/unlock-delivery/{c.locked_id}",
        {},
    ),
    # Notifications and webhooks (admin).
    ("GET", "/admin/notifications"): lambda c, w: ("/admin/notifications", {}),
    ("GET", "/admin/notifications/<int:notification_id>"): lambda c, w: (
        f"/admin/notifications/{c.notification_id}",
        {},
    ),
    ("POST", "/admin/notifications/<int:notification_id>/retry"): lambda c, w: (
        f"/admin/notifications/{c.notification_id}/retry",
        {},
    ),
    ("POST", "/admin/webhooks"): lambda c, w: (
        "/admin/webhooks",
        {"json": {"url": "http://127.0.0.1:9/hook", "events": ["order.delivered"]}},
    ),
    ("GET", "/admin/webhooks"): lambda c, w: ("/admin/webhooks", {}),
    ("GET", "/admin/webhooks/<int:webhook_id>"): lambda c, w: (f"/admin/webhooks/{c.webhook_id}", {}),
    ("DELETE", "/admin/webhooks/<int:webhook_id>"): lambda c, w: (f"/admin/webhooks/{c.webhook_id}", {}),
    ("POST", "/admin/webhooks/<int:webhook_id>/enable"): lambda c, w: (
        f"/admin/webhooks/{c.webhook_id}/enable",
        {},
    ),
    ("POST", "/admin/webhooks/<int:webhook_id>/test"): lambda c, w: (
        f"/admin/webhooks/{c.webhook_id}/test",
        {},
    ),
    # Dispatch (admin): courier settings and plans.
    ("GET", "/admin/couriers"): lambda c, w: ("/admin/couriers", {}),
    ("PATCH", "/admin/couriers/<int:courier_id>"): lambda c, w: (
        f"/admin/couriers/{c.users[COURIER].id}",
        {"json": {"capacity_kg": 30}},
    ),
    ("POST", "/admin/dispatch/plans"): lambda c, w: ("/admin/dispatch/plans", {}),
    ("GET", "/admin/dispatch/plans/<int:plan_id>"): lambda c, w: (f"/admin/dispatch/plans/{c.plan_id}", {}),
    ("POST", "/admin/dispatch/plans/<int:plan_id>/apply"): lambda c, w: (
        f"/admin/dispatch/plans/{c.plan_id}/apply",
        {},
    ),
    # Customer (object routes: the owner versus another customer).
    ("POST", "/customer/place-order"): lambda c, w: (
        "/customer/place-order",
        {"json": {"delivery_address": "1 Rd", "recipient_name": "K"}},
    ),
    ("GET", "/customer/orders"): lambda c, w: ("/customer/orders", {}),
    ("GET", "/customer/track-order/<int:order_id>"): lambda c, w: (
        f"/customer/track-order/{c.assigned['order_id']}",
        {},
    ),
    ("GET", "/customer/track-order/<int:order_id>/events"): lambda c, w: (
        f"/customer/track-order/{c.delivered['order_id']}/events",
        {},
    ),
    ("POST", "/customer/cancel-order/<int:order_id>"): lambda c, w: (
        f"/customer/cancel-order/{c.pending['order_id']}",
        {},
    ),
    ("GET", "/customer/orders/<int:order_id>/qr"): lambda c, w: (
        f"/customer/orders/{c.assigned['order_id']}/qr",
        {},
    ),
    ("GET", "/customer/orders/<int:order_id>/qr.svg"): lambda c, w: (
        f"/customer/orders/{c.assigned['order_id']}/qr.svg",
        {},
    ),
    ("GET", "/customer/orders/<int:order_id>/delivery-code"): lambda c, w: (
        f"/customer/orders/{c.assigned['order_id']}/delivery-code",
        {},
    ),
    ("GET", "/customer/preferences"): lambda c, w: ("/customer/preferences", {}),
    ("PATCH", "/customer/preferences"): lambda c, w: ("/customer/preferences", {"json": {"email": False}}),
    ("POST", "/customer/feedback"): lambda c, w: (
        "/customer/feedback",
        {"json": {"order_id": c.delivered["order_id"], "feedback": "Good"}},
    ),
    # Customers and couriers: about an order they own or carry.
    ("POST", "/raise-issue"): lambda c, w: (
        "/raise-issue",
        {"json": {"message": "Help", "order_id": c.assigned["order_id"]}},
    ),
    # Delivery person (object routes: the assigned courier versus another courier).
    ("GET", "/delivery/assigned-orders"): lambda c, w: ("/delivery/assigned-orders", {}),
    ("GET", "/delivery/history"): lambda c, w: ("/delivery/history", {}),
    ("PATCH", "/delivery/update-status"): lambda c, w: (
        "/delivery/update-status",
        {"json": {"order_id": c.assigned["order_id"], "status": "Picked Up"}},
    ),
    ("POST", "/delivery/confirm-delivery"): lambda c, w: (
        "/delivery/confirm-delivery",
        {"json": {"order_id": c.out_for_delivery["order_id"], "code": c.out_for_delivery["code"]}},
    ),
    ("POST", "/delivery/shift/start"): lambda c, w: ("/delivery/shift/start", {}),
    ("POST", "/delivery/shift/end"): lambda c, w: (c.start_shift(w), ("/delivery/shift/end", {}))[1],
    ("GET", "/delivery/route"): lambda c, w: ("/delivery/route", {}),
    ("POST", "/delivery/route/optimize"): lambda c, w: ("/delivery/route/optimize", {}),
    ("PATCH", "/delivery/update-location"): lambda c, w: (
        "/delivery/update-location",
        {"json": {"order_id": c.assigned["order_id"], "latitude": 1.0, "longitude": 2.0}},
    ),
    ("POST", "/delivery/locations"): lambda c, w: (
        "/delivery/locations",
        {"json": {"points": [{"latitude": 1.0, "longitude": 2.0, "recorded_at": "2026-01-01T00:00:00Z"}]}},
    ),
}
# Routes about one object of the caller's: another user of the same role gets 404.
# Proof files, shipping labels and CSV imports.
IMPORT_CSV = "delivery_address,recipient_name\n1 Import Road,Ivy\n"
CALLS.update(
    {
        ("GET", "/admin/orders/<int:order_id>/label"): lambda c, w: (
            f"/admin/orders/{c.pending['order_id']}/label",
            {},
        ),
        ("POST", "/admin/labels"): lambda c, w: (
            "/admin/labels",
            {"json": {"order_ids": [c.pending["order_id"]]}},
        ),
        ("GET", "/customer/orders/<int:order_id>/label"): lambda c, w: (
            f"/customer/orders/{c.pending['order_id']}/label",
            {},
        ),
        ("GET", "/admin/orders/<int:order_id>/proof"): lambda c, w: (
            f"/admin/orders/{c.delivered['order_id']}/proof",
            {},
        ),
        ("GET", "/customer/orders/<int:order_id>/proof"): lambda c, w: (
            f"/customer/orders/{c.delivered['order_id']}/proof",
            {},
        ),
        ("POST", "/delivery/orders/<int:order_id>/proof"): lambda c, w: (
            f"/delivery/orders/{c.out_for_delivery['order_id']}/proof",
            {"data": {"code": c.out_for_delivery["code"]}, "content_type": "multipart/form-data"},
        ),
        ("POST", "/admin/orders/import"): lambda c, w: (
            "/admin/orders/import",
            {
                "data": f"customer_id,delivery_address,recipient_name\n{c.users[CUSTOMER].id},1 Import Road,Ivy\n",
                "content_type": "text/csv",
            },
        ),
        ("GET", "/admin/orders/import/template.csv"): lambda c, w: ("/admin/orders/import/template.csv", {}),
        ("POST", "/customer/orders/import"): lambda c, w: (
            "/customer/orders/import",
            {"data": IMPORT_CSV, "content_type": "text/csv"},
        ),
        ("GET", "/customer/orders/import/template.csv"): lambda c, w: (
            "/customer/orders/import/template.csv",
            {},
        ),
    }
)

OWNED = {
    ("GET", "/customer/track-order/<int:order_id>"),
    ("GET", "/customer/track-order/<int:order_id>/events"),
    ("POST", "/customer/cancel-order/<int:order_id>"),
    ("GET", "/customer/orders/<int:order_id>/qr"),
    ("GET", "/customer/orders/<int:order_id>/qr.svg"),
    ("GET", "/customer/orders/<int:order_id>/delivery-code"),
    ("POST", "/customer/feedback"),
    ("POST", "/raise-issue"),
    ("PATCH", "/delivery/update-status"),
    ("POST", "/delivery/confirm-delivery"),
    ("PATCH", "/delivery/update-location"),
    ("GET", "/customer/orders/<int:order_id>/label"),
    ("GET", "/customer/orders/<int:order_id>/proof"),
    ("POST", "/delivery/orders/<int:order_id>/proof"),
}


def test_every_route_has_a_call():
    missing = [f"{method} {rule}" for method, rule in ROUTES if (method, rule) not in CALLS]
    assert not missing, f"routes without an entry in CALLS: {missing}"
    assert set(CALLS) == set(DECLARED), "CALLS names routes the app does not serve"
    assert OWNED <= set(CALLS)


def test_every_route_is_declared_with_its_roles_and_success_status():
    for key, route in DECLARED.items():
        assert route is not None, key
        assert set(route.roles) <= set(ROLES), key
        assert [s for s in route.responses if 200 <= s < 300], key
        assert set(BASE_CALLERS) <= set(expected_statuses(route, key in OWNED)), key


@pytest.fixture
def ctx(auth, orders, sql):
    users = {
        ADMIN: auth.admin(),
        CUSTOMER: auth.customer(),
        OTHER_CUSTOMER: auth.customer(),
        COURIER: auth.courier(),
        OTHER_COURIER: auth.courier(),
    }
    admin, alice, dave = users[ADMIN], users[CUSTOMER], users[COURIER]
    pending = orders.place(alice)
    assigned = orders.place(alice)
    orders.assign(admin, assigned["order_id"], dave)
    delivered = orders.delivered(alice, admin, dave)
    failed = orders.place(alice)
    orders.assign(admin, failed["order_id"], dave)
    failed = orders.move(dave, failed["order_id"], "Picked Up", "Out for Delivery", "Failed Attempt")
    issue = orders.client.post("/raise-issue", json={"message": "Where?"}, headers=alice.headers)
    assert issue.status_code == 201
    victim = auth.customer()
    out_for_delivery, locked = (orders.place(alice) for _ in range(2))
    for order in (out_for_delivery, locked):
        orders.assign(admin, order["order_id"], dave)
        orders.move(dave, order["order_id"], "Picked Up", "Out for Delivery")
    code = orders.client.get(
        f"/customer/orders/{out_for_delivery['order_id']}/delivery-code", headers=alice.headers
    )
    assert code.status_code == 200, code.get_json()
    out_for_delivery["code"] = code.get_json()["code"]
    sql(
        "UPDATE orders SET delivery_locked_at = UTC_TIMESTAMP(6), code_failures = 5 WHERE order_id = %s",
        (locked["order_id"],),
    )
    sql(
        "INSERT INTO webhooks (url, events, secret) VALUES ('http://127.0.0.1:9/hook', 'order.delivered', 'whsec_x')"
    )
    webhook_id = sql("SELECT MAX(webhook_id) AS id FROM webhooks", one=True)["id"]
    sql(
        "INSERT INTO notifications (channel, event_type, event_id, recipient, payload, status, attempts,"
        " max_attempts) VALUES ('email', 'order.delivered', REPLACE(UUID(), '-', ''), 'a@example.test', '{}',"
        " 'failed', 8, 8)"
    )
    notification_id = sql("SELECT MAX(notification_id) AS id FROM notifications", one=True)["id"]
    on_shift = (
        "UPDATE delivery_persons SET on_shift_since = UTC_TIMESTAMP(6), depot_latitude = 40.7,"
        " depot_longitude = -74.0, shift_start = '00:00', shift_end = '00:00' WHERE delivery_person_id = %s"
    )
    sql(on_shift, (users[OTHER_COURIER].id,))
    plan = orders.client.post("/admin/dispatch/plans", headers=admin.headers)
    assert plan.status_code == 201, plan.get_json()

    def start_shift(who):
        if who == COURIER:
            sql(on_shift, (dave.id,))

    return Ctx(
        users,
        pending,
        assigned,
        delivered,
        failed,
        issue.get_json()["issue"]["issue_id"],
        victim.id,
        out_for_delivery,
        locked["order_id"],
        webhook_id,
        notification_id,
        plan.get_json()["plan_id"],
        start_shift,
    )


@pytest.mark.parametrize("method, rule", ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
def test_route_answers_each_caller_as_declared(client, ctx, method, rule):
    if (method, rule) not in CALLS:
        pytest.fail(f"{method} {rule} has no entry in CALLS")
    build = CALLS[(method, rule)]
    expected = expected_statuses(DECLARED[(method, rule)], (method, rule) in OWNED)
    # Refusals first, then the callers who may: an allowed call may change what the others would see.
    order = sorted(expected, key=lambda who: (200 <= expected[who] < 300, list(expected).index(who)))
    got = {}
    for who in order:
        path, kwargs = build(ctx, who)
        user = ctx.users.get(who)
        headers = dict(user.headers) if user else {}
        headers.update(kwargs.pop("headers", {}))
        response = client.open(path, method=method, headers=headers, **kwargs)
        got[who] = response.status_code
        if response.mimetype == "application/json":
            body = response.get_json()
            assert body is not None
            if response.status_code == 401 and who == ANON:
                assert set(body) == ERROR_KEYS, (method, rule)
            if response.status_code == 403:
                assert body["code"] == "wrong_role", (method, rule, who)
        response.close()
    assert got == {who: expected[who] for who in order}
