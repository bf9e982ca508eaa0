"""Authorisation matrix: every route of the app's URL map, called as anonymous, as each role and, for
routes about one object, as its owner and as another user of the same role, against the expected status.

The routes come from app.url_map, so a new route without an entry in MATRIX fails
test_every_route_has_a_matrix_entry (and its own case below). Entries for routes that are not
registered are simply unused.
"""

from dataclasses import dataclass

import pytest
from conftest import PASSWORD, _config

from app1 import create_app

ANON, ADMIN, CUSTOMER, COURIER = "anonymous", "admin", "customer", "delivery_person"
OTHER_CUSTOMER, OTHER_COURIER = "other_customer", "other_delivery_person"
BASE_CALLERS = (ANON, ADMIN, CUSTOMER, COURIER)


def routes():
    """Every (method, rule) the app serves, but static files, HEAD and OPTIONS."""
    app = create_app(_config())
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method, rule.rule))
    return sorted(found, key=lambda item: (item[1], item[0]))


ROUTES = routes()


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


def public(status):
    return dict.fromkeys(BASE_CALLERS, status)


def only(role, status, owner_check=False):
    """A route for one role: 401 anonymous, 403 for the other roles; with owner_check, another user of
    the same role gets 404 (the object is someone else's)."""
    expected = {ANON: 401, ADMIN: 403, CUSTOMER: 403, COURIER: 403, role: status}
    if owner_check:
        expected[{CUSTOMER: OTHER_CUSTOMER, COURIER: OTHER_COURIER}[role]] = 404
    return expected


def every_role(status):
    return {ANON: 401, ADMIN: status, CUSTOMER: status, COURIER: status}


def own_login_body(ctx, who):
    user = ctx.users.get(who)
    if user is None:
        return {"email": ctx.users[CUSTOMER].login, "password": PASSWORD}
    key = "username" if user.role == "admin" else "email"
    return {key: user.login, "password": PASSWORD}


def refresh_header(ctx, who):
    user = ctx.users.get(who)
    return {"Authorization": f"Bearer {user.refresh_token}"} if user else {}


# (method, rule) -> (how to call it: ctx, caller -> (path, request kwargs), expected status per caller)
MATRIX = {
    # Health and documentation: public.
    ("GET", "/healthz"): (lambda c, w: ("/healthz", {}), public(200)),
    ("GET", "/readyz"): (lambda c, w: ("/readyz", {}), public(200)),
    ("GET", "/openapi.json"): (lambda c, w: ("/openapi.json", {}), public(200)),
    ("GET", "/docs"): (lambda c, w: ("/docs", {}), public(200)),
    ("GET", "/docs/<path:filename>"): (lambda c, w: ("/docs/swagger-initializer.js", {}), public(200)),
    # The web console and the public tracking page (HTML; the data comes from the API).
    ("GET", "/"): (lambda c, w: ("/", {}), public(200)),
    ("GET", "/t/<tracking_number>"): (lambda c, w: (f"/t/{c.delivered['tracking_number']}", {}), public(200)),
    # Public tracking by tracking number (a finished order, so its stream ends).
    ("GET", "/track/<tracking_number>"): (
        lambda c, w: (f"/track/{c.delivered['tracking_number']}", {}),
        public(200),
    ),
    ("GET", "/track/<tracking_number>/events"): (
        lambda c, w: (f"/track/{c.delivered['tracking_number']}/events", {}),
        public(200),
    ),
    # Authentication and accounts.
    ("POST", "/signup"): (
        lambda c, w: (
            "/signup",
            {"json": {"name": "N", "email": f"new-{w}@example.com", "password": PASSWORD, "address": "1 St"}},
        ),
        public(201),
    ),
    ("POST", "/login"): (lambda c, w: ("/login", {"json": own_login_body(c, w)}), public(200)),
    ("POST", "/register"): (
        lambda c, w: (
            "/register",
            {"json": {"user_type": "admin", "username": f"new_{w}", "password": PASSWORD}},
        ),
        only(ADMIN, 201),
    ),
    ("POST", "/refresh"): (lambda c, w: ("/refresh", {"headers": refresh_header(c, w)}), every_role(200)),
    ("POST", "/logout"): (lambda c, w: ("/logout", {}), every_role(200)),
    ("POST", "/change-password"): (
        lambda c, w: (
            "/change-password",
            {"json": {"old_password": PASSWORD, "new_password": "changed-pw1"}},
        ),
        every_role(200),
    ),
    # Admin.
    ("GET", "/admin/users"): (lambda c, w: ("/admin/users", {}), only(ADMIN, 200)),
    ("GET", "/admin/orders"): (lambda c, w: ("/admin/orders", {}), only(ADMIN, 200)),
    ("GET", "/admin/issues"): (lambda c, w: ("/admin/issues", {}), only(ADMIN, 200)),
    ("PATCH", "/admin/issues"): (
        lambda c, w: ("/admin/issues", {"json": {"issue_id": c.issue_id, "response": "On it"}}),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/assign-delivery"): (
        lambda c, w: (
            "/admin/assign-delivery",
            {"json": {"order_id": c.pending["order_id"], "delivery_person_id": c.users[COURIER].id}},
        ),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/cancel-order/<int:order_id>"): (
        lambda c, w: (f"/admin/cancel-order/{c.pending['order_id']}", {}),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/return-order/<int:order_id>"): (
        lambda c, w: (f"/admin/return-order/{c.failed['order_id']}", {}),
        only(ADMIN, 200),
    ),
    ("DELETE", "/admin/delete-user/<user_type>/<int:user_id>"): (
        lambda c, w: (f"/admin/delete-user/customer/{c.victim_id}", {}),
        only(ADMIN, 200),
    ),
    ("GET", "/admin/orders/export.csv"): (lambda c, w: ("/admin/orders/export.csv", {}), only(ADMIN, 200)),
    ("GET", "/admin/analytics"): (lambda c, w: ("/admin/analytics", {}), only(ADMIN, 200)),
    ("POST", "/admin/override-delivery/<int:order_id>"): (
        lambda c, w: (
            f"/admin/override-delivery/{c.out_for_delivery['order_id']}",
            {"json": {"reason": "Recipient confirmed by phone"}},
        ),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/unlock-delivery/<int:order_id>"): (
        lambda c, w: (f"/admin/unlock-delivery/{c.locked_id}", {}),
        only(ADMIN, 200),
    ),
    # Notifications and webhooks (admin).
    ("GET", "/admin/notifications"): (lambda c, w: ("/admin/notifications", {}), only(ADMIN, 200)),
    ("GET", "/admin/notifications/<int:notification_id>"): (
        lambda c, w: (f"/admin/notifications/{c.notification_id}", {}),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/notifications/<int:notification_id>/retry"): (
        lambda c, w: (f"/admin/notifications/{c.notification_id}/retry", {}),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/webhooks"): (
        lambda c, w: (
            "/admin/webhooks",
            {"json": {"url": "http://127.0.0.1:9/hook", "events": ["order.delivered"]}},
        ),
        only(ADMIN, 201),
    ),
    ("GET", "/admin/webhooks"): (lambda c, w: ("/admin/webhooks", {}), only(ADMIN, 200)),
    ("GET", "/admin/webhooks/<int:webhook_id>"): (
        lambda c, w: (f"/admin/webhooks/{c.webhook_id}", {}),
        only(ADMIN, 200),
    ),
    ("DELETE", "/admin/webhooks/<int:webhook_id>"): (
        lambda c, w: (f"/admin/webhooks/{c.webhook_id}", {}),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/webhooks/<int:webhook_id>/enable"): (
        lambda c, w: (f"/admin/webhooks/{c.webhook_id}/enable", {}),
        only(ADMIN, 200),
    ),
    ("POST", "/admin/webhooks/<int:webhook_id>/test"): (
        lambda c, w: (f"/admin/webhooks/{c.webhook_id}/test", {}),
        only(ADMIN, 202),
    ),
    # Customer (object routes: the owner versus another customer).
    ("POST", "/customer/place-order"): (
        lambda c, w: ("/customer/place-order", {"json": {"delivery_address": "1 Rd", "recipient_name": "K"}}),
        only(CUSTOMER, 201),
    ),
    ("GET", "/customer/orders"): (lambda c, w: ("/customer/orders", {}), only(CUSTOMER, 200)),
    ("GET", "/customer/track-order/<int:order_id>"): (
        lambda c, w: (f"/customer/track-order/{c.assigned['order_id']}", {}),
        only(CUSTOMER, 200, owner_check=True),
    ),
    ("GET", "/customer/track-order/<int:order_id>/events"): (
        lambda c, w: (f"/customer/track-order/{c.delivered['order_id']}/events", {}),
        only(CUSTOMER, 200, owner_check=True),
    ),
    ("POST", "/customer/cancel-order/<int:order_id>"): (
        lambda c, w: (f"/customer/cancel-order/{c.pending['order_id']}", {}),
        only(CUSTOMER, 200, owner_check=True),
    ),
    ("GET", "/customer/orders/<int:order_id>/qr"): (
        lambda c, w: (f"/customer/orders/{c.assigned['order_id']}/qr", {}),
        only(CUSTOMER, 200, owner_check=True),
    ),
    ("GET", "/customer/orders/<int:order_id>/delivery-code"): (
        lambda c, w: (f"/customer/orders/{c.assigned['order_id']}/delivery-code", {}),
        only(CUSTOMER, 200, owner_check=True),
    ),
    ("GET", "/customer/preferences"): (lambda c, w: ("/customer/preferences", {}), only(CUSTOMER, 200)),
    ("PATCH", "/customer/preferences"): (
        lambda c, w: ("/customer/preferences", {"json": {"email": False}}),
        only(CUSTOMER, 200),
    ),
    ("POST", "/customer/feedback"): (
        lambda c, w: (
            "/customer/feedback",
            {"json": {"order_id": c.delivered["order_id"], "feedback": "Good"}},
        ),
        only(CUSTOMER, 201, owner_check=True),
    ),
    # Customers and couriers: about an order they own or carry.
    ("POST", "/raise-issue"): (
        lambda c, w: ("/raise-issue", {"json": {"message": "Help", "order_id": c.assigned["order_id"]}}),
        {ANON: 401, ADMIN: 403, CUSTOMER: 201, OTHER_CUSTOMER: 404, COURIER: 201, OTHER_COURIER: 404},
    ),
    # Delivery person (object routes: the assigned courier versus another courier).
    ("GET", "/delivery/assigned-orders"): (
        lambda c, w: ("/delivery/assigned-orders", {}),
        only(COURIER, 200),
    ),
    ("GET", "/delivery/history"): (lambda c, w: ("/delivery/history", {}), only(COURIER, 200)),
    ("PATCH", "/delivery/update-status"): (
        lambda c, w: (
            "/delivery/update-status",
            {"json": {"order_id": c.assigned["order_id"], "status": "Picked Up"}},
        ),
        only(COURIER, 200, owner_check=True),
    ),
    ("POST", "/delivery/confirm-delivery"): (
        lambda c, w: (
            "/delivery/confirm-delivery",
            {"json": {"order_id": c.out_for_delivery["order_id"], "code": c.out_for_delivery["code"]}},
        ),
        only(COURIER, 200, owner_check=True),
    ),
    ("PATCH", "/delivery/update-location"): (
        lambda c, w: (
            "/delivery/update-location",
            {"json": {"order_id": c.assigned["order_id"], "latitude": 1.0, "longitude": 2.0}},
        ),
        only(COURIER, 200, owner_check=True),
    ),
}

# Proof files, shipping labels and CSV imports.
IMPORT_CSV = "delivery_address,recipient_name\n1 Import Road,Ivy\n"
MATRIX.update(
    {
        ("GET", "/admin/orders/<int:order_id>/label"): (
            lambda c, w: (f"/admin/orders/{c.pending['order_id']}/label", {}),
            only(ADMIN, 200),
        ),
        ("POST", "/admin/labels"): (
            lambda c, w: ("/admin/labels", {"json": {"order_ids": [c.pending["order_id"]]}}),
            only(ADMIN, 200),
        ),
        ("GET", "/customer/orders/<int:order_id>/label"): (
            lambda c, w: (f"/customer/orders/{c.pending['order_id']}/label", {}),
            only(CUSTOMER, 200, owner_check=True),
        ),
        ("GET", "/admin/orders/<int:order_id>/proof"): (
            lambda c, w: (f"/admin/orders/{c.delivered['order_id']}/proof", {}),
            only(ADMIN, 200),
        ),
        ("GET", "/customer/orders/<int:order_id>/proof"): (
            lambda c, w: (f"/customer/orders/{c.delivered['order_id']}/proof", {}),
            only(CUSTOMER, 200, owner_check=True),
        ),
        ("POST", "/delivery/orders/<int:order_id>/proof"): (
            lambda c, w: (
                f"/delivery/orders/{c.out_for_delivery['order_id']}/proof",
                {"data": {"code": c.out_for_delivery["code"]}, "content_type": "multipart/form-data"},
            ),
            only(COURIER, 200, owner_check=True),
        ),
        ("POST", "/admin/orders/import"): (
            lambda c, w: (
                "/admin/orders/import",
                {
                    "data": f"customer_id,delivery_address,recipient_name\n{c.users[CUSTOMER].id},1 Import Road,Ivy\n",
                    "content_type": "text/csv",
                },
            ),
            only(ADMIN, 201),
        ),
        ("GET", "/admin/orders/import/template.csv"): (
            lambda c, w: ("/admin/orders/import/template.csv", {}),
            only(ADMIN, 200),
        ),
        ("POST", "/customer/orders/import"): (
            lambda c, w: ("/customer/orders/import", {"data": IMPORT_CSV, "content_type": "text/csv"}),
            only(CUSTOMER, 201),
        ),
        ("GET", "/customer/orders/import/template.csv"): (
            lambda c, w: ("/customer/orders/import/template.csv", {}),
            only(CUSTOMER, 200),
        ),
    }
)


def test_every_route_has_a_matrix_entry():
    missing = [f"{method} {rule}" for method, rule in ROUTES if (method, rule) not in MATRIX]
    assert not missing, f"routes without an authorisation matrix entry: {missing}"


def test_every_entry_covers_anonymous_and_every_role():
    for key, (_, expected) in MATRIX.items():
        assert set(BASE_CALLERS) <= set(expected), key


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
    )


@pytest.mark.parametrize("method, rule", ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
def test_route_answers_each_caller_as_the_matrix_says(client, ctx, method, rule):
    if (method, rule) not in MATRIX:
        pytest.fail(f"{method} {rule} has no entry in the authorisation matrix")
    build, expected = MATRIX[(method, rule)]
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
            assert response.get_json() is not None
        response.close()
    assert got == {who: expected[who] for who in order}
