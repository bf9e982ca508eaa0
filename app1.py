"""Courier Tracking System: the Flask app factory and every role's routes.

Handlers stay thin: parse, authorise (require_role first), call a courier.* module, respond.
"""

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from courier import (
    accounts,
    analytics,
    auth,
    console,
    db,
    errors,
    export,
    imports,
    labels,
    lifecycle,
    limits,
    live,
    middleware,
    notifications,
    openapi,
    orders,
    pod_files,
    proof,
    requestlog,
    schemas,
    sessions,
    support,
    tracking,
    webhooks,
    worker,
)
from courier.auth import require_role
from courier.config import check_secret, from_env
from courier.errors import bad_request, unauthorized
from courier.limits import limiter
from courier.pagination import page_args
from courier.validation import choice_arg, clean, datetime_arg, int_arg, json_body, optional_json_body

ADMIN, CUSTOMER, COURIER = "admin", "customer", "delivery_person"

api = Blueprint("api", __name__)


def create_app(test_config=None):
    """Create and configure the app; test_config overrides the environment."""
    app = Flask(__name__)
    app.config.from_mapping(from_env())
    if test_config:
        app.config.update(test_config)
    check_secret(app)
    if app.config.get("TRUSTED_PROXIES"):
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    requestlog.init_app(app)
    middleware.init_app(app)
    errors.register_error_handlers(app)
    db.init_app(app)
    auth.init_app(app)
    limits.init_app(app)
    worker.init_app(app)
    app.register_blueprint(api)
    return app


# --------------------------------------------------------------------------------------------
# Web console and public tracking page (HTML; the pages call the JSON API below)
# --------------------------------------------------------------------------------------------


@api.get("/")
def console_page():
    """The web console: log in, then the screens of your role."""
    return console.index()


@api.get("/t/<tracking_number>")
def tracking_page(tracking_number):
    """The public tracking page of one parcel: timeline and, while Out for Delivery, a map."""
    return console.tracking_page(tracking_number)


# --------------------------------------------------------------------------------------------
# Health (no login)
# --------------------------------------------------------------------------------------------


@api.get("/healthz")
def healthz():
    """The process is up (says nothing about the database)."""
    return {"status": "ok"}


@api.get("/readyz")
def readyz():
    """The database answers."""
    db.query("SELECT 1")
    return {"status": "ready"}


# --------------------------------------------------------------------------------------------
# Documentation (no login)
# --------------------------------------------------------------------------------------------


@api.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 document of every route, built from the schemas that validate requests."""
    return openapi.openapi_response()


@api.get("/docs")
def docs():
    """Swagger UI, served offline from a pinned package."""
    return openapi.docs_page()


@api.get("/docs/<path:filename>")
def docs_asset(filename):
    """Swagger UI's scripts and styles."""
    return openapi.docs_asset(filename)


# --------------------------------------------------------------------------------------------
# Authentication and accounts
# --------------------------------------------------------------------------------------------


@api.post("/signup")
def signup():
    """A customer creates their own account."""
    body = json_body(schemas.SIGNUP)
    customer = accounts.create_customer(body)
    return {"message": "Signup successful", "customer_id": customer["id"], "user": customer}, 201


@api.post("/login")
@limiter.limit(
    limits.login_limit_per_account, key_func=limits.login_account_key, deduct_when=limits.failed_login
)
@limiter.limit(limits.login_limit_per_ip, key_func=limits.client_ip_key, deduct_when=limits.failed_login)
def login():
    """One login for every role: email (customers, couriers) or username (admins), and password."""
    body = json_body(schemas.LOGIN)
    email, username = clean(body.get("email")), clean(body.get("username"))
    if email is None and username is None:
        raise bad_request("Missing required fields", "missing_fields", {"email": "required (or username)"})
    found = auth.authenticate(email, username, body["password"])
    if found is None:
        raise unauthorized("Invalid credentials", "invalid_credentials")
    role, user_id = found
    tokens = auth.issue_tokens(role, user_id)
    token = tokens.pop("token")
    return {"message": "Login successful", "token": token, "role": role, "id": user_id, **tokens}


@api.post("/refresh")
def refresh():
    """A new access token for the refresh token in the Authorization header (same login session)."""
    caller = require_role(ADMIN, CUSTOMER, COURIER, refresh=True)
    return sessions.refresh(caller)


@api.post("/logout")
def logout():
    """End the access token's login session and, if given, the refresh token's; both stop working."""
    caller = require_role(ADMIN, CUSTOMER, COURIER)
    body = optional_json_body(schemas.LOGOUT)
    revoked = sessions.logout(caller, body.get("refresh_token"))
    return {"message": "Logout successful", "revoked_sessions": revoked}


@api.post("/change-password")
@limiter.limit(
    limits.login_limit_per_account,
    key_func=limits.token_account_key,
    deduct_when=limits.failed_password_check,
)
def change_password():
    """Change your password (the old one is required); your other sessions end, this one stays valid."""
    caller = require_role(ADMIN, CUSTOMER, COURIER)
    body = json_body(schemas.CHANGE_PASSWORD)
    revoked = sessions.change_password(caller, body["old_password"], body["new_password"])
    return {"message": "Password changed", "revoked_sessions": revoked}


@api.post("/register")
def register():
    """An admin creates a delivery person or another admin."""
    require_role(ADMIN)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object", "invalid_body")
    user_type = body.get("user_type")
    if user_type == COURIER:
        user = accounts.create_courier(json_body(schemas.REGISTER_COURIER))
        return {"message": "Delivery person registered", "user": user}, 201
    if user_type == ADMIN:
        user = accounts.create_admin(json_body(schemas.REGISTER_ADMIN))
        return {"message": "Admin registered", "user": user}, 201
    if user_type is None:
        raise bad_request("Missing required fields", "missing_fields", {"user_type": "required"})
    problem = "must be delivery_person or admin (customers sign up with POST /signup)"
    raise bad_request(f"user_type {problem}", "invalid_fields", {"user_type": problem})


# --------------------------------------------------------------------------------------------
# Admin
# --------------------------------------------------------------------------------------------


@api.get("/admin/users")
def admin_users():
    """Users of every type (or ?type=), customers, then couriers, then admins."""
    require_role(ADMIN)
    user_type = choice_arg("type", schemas.USER_TYPES)
    page = page_args({"type": (int, int)}, "type")
    users, next_cursor = accounts.list_users(page, user_type)
    return {"users": users, "next_cursor": next_cursor}


def admin_order_filters():
    """The WHERE fragment of the order filters an admin may send (?status=, ?customer_id=, ...)."""
    return orders.order_filters(
        status=choice_arg("status", schemas.STATUSES),
        customer_id=int_arg("customer_id"),
        assigned_to=int_arg("assigned_to"),
        created_from=datetime_arg("created_from"),
        created_to=datetime_arg("created_to", end_of_day=True),
    )


@api.get("/admin/orders")
def admin_orders():
    """Orders, filtered by status, customer, courier and creation date, newest first by default."""
    require_role(ADMIN)
    where, args = admin_order_filters()
    page = page_args({name: sort[2] for name, sort in orders.ORDER_SORTS.items()}, "-created_at")
    rows, next_cursor = orders.list_orders(page, where, args)
    return {"orders": rows, "next_cursor": next_cursor}


@api.get("/admin/orders/export.csv")
def admin_orders_export():
    """The filtered orders as CSV, streamed (constant memory at any size)."""
    require_role(ADMIN)
    where, args = admin_order_filters()
    return export.orders_csv(where, args)


@api.get("/admin/orders/<int:order_id>/label")
def admin_order_label(order_id):
    """Any order's 4x6 inch shipping label: PDF, or ?format=zpl for thermal printers."""
    require_role(ADMIN)
    fmt = choice_arg("format", labels.FORMATS) or "pdf"
    return labels.label_response([labels.label_order(order_id)], fmt)


@api.post("/admin/labels")
def admin_labels():
    """One PDF (or ZPL) of up to 500 orders' labels, one per page, in the order given."""
    require_role(ADMIN)
    fmt = choice_arg("format", labels.FORMATS) or "pdf"
    body = json_body(schemas.LABELS)
    return labels.label_response(labels.label_orders(body["order_ids"]), fmt)


@api.get("/admin/orders/<int:order_id>/proof")
def admin_order_proof(order_id):
    """What proves an order's delivery (or failed attempt); ?file=<proof_id> gives one photo or signature."""
    require_role(ADMIN)
    return pod_files.proof_response(order_id, None, int_arg("file"))


@api.post("/admin/orders/import")
def admin_import_orders():
    """Create orders for any customers from a CSV file (customer_id column); ?dry_run=true validates only."""
    caller = require_role(ADMIN)
    return imports.import_response(caller, customer_id=None)


@api.get("/admin/orders/import/template.csv")
def admin_import_template():
    """The CSV header (and one example row) POST /admin/orders/import takes."""
    require_role(ADMIN)
    return imports.template_response(with_customer=True)


@api.get("/admin/analytics")
def admin_analytics():
    """Order volume, delivery rates and times, per-courier figures, issues and ratings for ?from=&to=."""
    require_role(ADMIN)
    return analytics.summary(datetime_arg("from"), datetime_arg("to", end_of_day=True))


@api.post("/admin/assign-delivery")
def admin_assign_delivery():
    """Assign a Pending order to a courier, or move an Assigned one with "reassign": true."""
    caller = require_role(ADMIN)
    body = json_body(schemas.ASSIGN)
    with db.transaction():
        lifecycle.assign(body["order_id"], body["delivery_person_id"], body.get("reassign", False), caller)
    return {"message": "Order assigned successfully", "order": orders.get_order(body["order_id"])}


@api.post("/admin/cancel-order/<int:order_id>")
def admin_cancel_order(order_id):
    """An admin cancels any order that is not final."""
    caller = require_role(ADMIN)
    body = optional_json_body(schemas.CANCEL)
    with db.transaction():
        lifecycle.cancel(order_id, caller, reason=clean(body.get("reason")))
    return {"message": "Order cancelled", "order": orders.get_order(order_id)}


@api.post("/admin/return-order/<int:order_id>")
def admin_return_order(order_id):
    """An admin closes a Failed Attempt order as Returned (to the sender)."""
    caller = require_role(ADMIN)
    body = optional_json_body(schemas.CANCEL)
    with db.transaction():
        lifecycle.admin_return(order_id, caller, note=clean(body.get("reason")))
    return {"message": "Order returned", "order": orders.get_order(order_id)}


@api.post("/admin/override-delivery/<int:order_id>")
def admin_override_delivery(order_id):
    """Mark an Out for Delivery order Delivered without the code (e.g. after review of a locked order)."""
    caller = require_role(ADMIN)
    body = json_body(schemas.OVERRIDE_DELIVERY)
    with db.transaction():
        proof.admin_override(order_id, caller, clean(body["reason"]))
    return {"message": "Order marked as delivered", "order": orders.get_order(order_id)}


@api.post("/admin/unlock-delivery/<int:order_id>")
def admin_unlock_delivery(order_id):
    """Let the courier try the delivery code again on an order locked after too many wrong codes."""
    caller = require_role(ADMIN)
    body = optional_json_body(schemas.CANCEL)
    with db.transaction():
        proof.unlock(order_id, caller, clean(body.get("reason")))
    return {"message": "Delivery code unlocked", "order": orders.get_order(order_id)}


@api.delete("/admin/delete-user/<user_type>/<int:user_id>")
def admin_delete_user(user_type, user_id):
    """Close an account; its orders, events, issues and feedback are kept."""
    require_role(ADMIN)
    if user_type not in schemas.USER_TYPES:
        problem = "must be one of: " + ", ".join(schemas.USER_TYPES)
        raise bad_request(f"user_type {problem}", "invalid_fields", {"user_type": problem})
    accounts.delete_user(user_type, user_id)
    return {"message": "User deleted successfully", "user_type": user_type, "user_id": user_id}


@api.get("/admin/issues")
def admin_issues():
    """Issues raised by customers and couriers, newest first, optionally by ?status=."""
    require_role(ADMIN)
    status = choice_arg("status", schemas.ISSUE_STATUSES)
    page = page_args({name: (int,) for name in support.ISSUE_SORTS}, "-issue_id")
    rows, next_cursor = support.list_issues(page, status=status)
    return {"issues": rows, "next_cursor": next_cursor}


@api.patch("/admin/issues")
def admin_answer_issue():
    """Answer an issue and/or change its status."""
    caller = require_role(ADMIN)
    body = json_body(schemas.ANSWER_ISSUE)
    issue = support.answer_issue(caller, body["issue_id"], body.get("response"), body.get("status"))
    return {"message": "Issue updated successfully", "issue": issue}


@api.get("/admin/notifications")
def admin_notifications():
    """Queued, sent and failed notifications (email, SMS, webhook), newest first."""
    require_role(ADMIN)
    filters = {
        "status": choice_arg("status", schemas.NOTIFICATION_STATUSES),
        "channel": choice_arg("channel", schemas.CHANNELS),
        "order_id": int_arg("order_id"),
        "webhook_id": int_arg("webhook_id"),
    }
    page = page_args({"-notification_id": (int,)}, "-notification_id")
    rows, next_cursor = notifications.list_notifications(page, **filters)
    return {"notifications": rows, "next_cursor": next_cursor}


@api.get("/admin/notifications/<int:notification_id>")
def admin_notification(notification_id):
    """One notification with every delivery attempt."""
    require_role(ADMIN)
    return {"notification": notifications.get_notification(notification_id, attempts=True)}


@api.post("/admin/notifications/<int:notification_id>/retry")
def admin_retry_notification(notification_id):
    """Queue a failed notification again, with a fresh retry budget."""
    require_role(ADMIN)
    notification = notifications.retry(notification_id)
    return {"message": "Notification queued again", "notification": notification}


@api.post("/admin/webhooks")
def admin_create_webhook():
    """Register a webhook endpoint; the answer shows its signing secret, once."""
    caller = require_role(ADMIN)
    body = json_body(schemas.WEBHOOK)
    events = webhooks.requested_events(body.get("events"), body.get("event_types"))
    webhook = webhooks.create(caller, body["url"], events, clean(body.get("description")))
    return {"message": "Webhook registered", "webhook": webhook}, 201


@api.get("/admin/webhooks")
def admin_webhooks():
    """Registered webhook endpoints (without their secrets)."""
    require_role(ADMIN)
    page = page_args({"webhook_id": (int,)}, "webhook_id")
    rows, next_cursor = webhooks.list_webhooks(page)
    return {"webhooks": rows, "next_cursor": next_cursor}


@api.get("/admin/webhooks/<int:webhook_id>")
def admin_webhook(webhook_id):
    """One webhook endpoint and its latest deliveries."""
    require_role(ADMIN)
    return {"webhook": webhooks.get_webhook(webhook_id, deliveries=True)}


@api.delete("/admin/webhooks/<int:webhook_id>")
def admin_delete_webhook(webhook_id):
    """Remove a webhook endpoint; its queued deliveries are dropped, its history is kept."""
    require_role(ADMIN)
    webhooks.delete(webhook_id)
    return {"message": "Webhook deleted", "webhook_id": webhook_id}


@api.post("/admin/webhooks/<int:webhook_id>/enable")
def admin_enable_webhook(webhook_id):
    """Re-enable an endpoint disabled after consecutive failures."""
    require_role(ADMIN)
    return {"message": "Webhook enabled", "webhook": webhooks.enable(webhook_id)}


@api.post("/admin/webhooks/<int:webhook_id>/test")
def admin_test_webhook(webhook_id):
    """Queue a signed webhook.test event to the endpoint."""
    require_role(ADMIN)
    notification = webhooks.send_test(webhook_id)
    return {"message": "Test event queued", "notification": notification}, 202


# --------------------------------------------------------------------------------------------
# Customer
# --------------------------------------------------------------------------------------------


@api.post("/customer/place-order")
def customer_place_order():
    """Place an order; an Idempotency-Key header makes retries safe."""
    caller = require_role(CUSTOMER)
    body = json_body(schemas.PLACE_ORDER)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key.strip()) <= 255:
        raise bad_request("Idempotency-Key must be 1 to 255 characters", "invalid_header")
    order, created = orders.place_order(caller, body, key.strip() if key else None)
    response = jsonify({"message": "Order placed successfully", "order": order})
    response.status_code = 201
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api.get("/customer/orders")
def customer_orders():
    """The customer's own orders, newest first, optionally by ?status=."""
    caller = require_role(CUSTOMER)
    where, args = orders.order_filters(
        status=choice_arg("status", schemas.STATUSES),
        customer_id=caller.id,
        created_from=datetime_arg("created_from"),
        created_to=datetime_arg("created_to", end_of_day=True),
    )
    page = page_args({name: sort[2] for name, sort in orders.ORDER_SORTS.items()}, "-created_at")
    rows, next_cursor = orders.list_orders(page, where, args)
    return {"orders": rows, "next_cursor": next_cursor}


@api.get("/customer/track-order/<int:order_id>")
def customer_track_order(order_id):
    """The customer's order with its full timeline, courier and, while Out for Delivery, position."""
    caller = require_role(CUSTOMER)
    return tracking.customer_view(*tracking.customer_order(order_id, caller.id))


@api.get("/customer/track-order/<int:order_id>/events")
def customer_track_order_events(order_id):
    """The customer's order live, as Server-Sent Events, full detail; ends when the order is final."""
    caller = require_role(CUSTOMER)
    order, _ = tracking.customer_order(order_id, caller.id)
    return live.stream(order, public=False, max_seconds=live.token_seconds_left())


@api.post("/customer/cancel-order/<int:order_id>")
def customer_cancel_order(order_id):
    """The customer cancels their own order before pickup."""
    caller = require_role(CUSTOMER)
    body = optional_json_body(schemas.CANCEL)
    with db.transaction():
        lifecycle.cancel(order_id, caller, reason=clean(body.get("reason")), customer_id=caller.id)
    return {"message": "Order cancelled", "order": orders.get_order(order_id)}


@api.get("/customer/orders/<int:order_id>/qr")
def customer_order_qr(order_id):
    """The order's proof-of-delivery QR code (PNG, or ?format=svg) to show the courier at the door."""
    caller = require_role(CUSTOMER)
    fmt = choice_arg("format", ["png", "svg"]) or "png"
    return proof.qr_response(order_id, caller.id, fmt)


@api.get("/customer/orders/<int:order_id>/delivery-code")
def customer_delivery_code(order_id):
    """The order's proof-of-delivery code as text, for reading it out when the QR code cannot be scanned."""
    caller = require_role(CUSTOMER)
    return proof.customer_code(order_id, caller.id)


@api.get("/customer/orders/<int:order_id>/label")
def customer_order_label(order_id):
    """Your order's 4x6 inch shipping label: PDF, or ?format=zpl for thermal printers."""
    caller = require_role(CUSTOMER)
    fmt = choice_arg("format", labels.FORMATS) or "pdf"
    return labels.label_response([labels.label_order(order_id, caller.id)], fmt)


@api.get("/customer/orders/<int:order_id>/proof")
def customer_order_proof(order_id):
    """What proves your order's delivery (or failed attempt); ?file=<proof_id> gives one photo or signature."""
    caller = require_role(CUSTOMER)
    return pod_files.proof_response(order_id, caller.id, int_arg("file"))


@api.post("/customer/orders/import")
def customer_import_orders():
    """Place many of your own orders from a CSV file; ?dry_run=true validates only."""
    caller = require_role(CUSTOMER)
    return imports.import_response(caller, customer_id=caller.id)


@api.get("/customer/orders/import/template.csv")
def customer_import_template():
    """The CSV header (and one example row) POST /customer/orders/import takes."""
    require_role(CUSTOMER)
    return imports.template_response(with_customer=False)


@api.get("/customer/preferences")
def customer_preferences():
    """Which notifications the customer gets (email, SMS)."""
    caller = require_role(CUSTOMER)
    return {"preferences": notifications.get_preferences(caller.id)}


@api.patch("/customer/preferences")
def customer_update_preferences():
    """Switch email and/or SMS notifications on or off."""
    caller = require_role(CUSTOMER)
    body = json_body(schemas.PREFERENCES)
    preferences = notifications.set_preferences(caller.id, body.get("email"), body.get("sms"))
    return {"message": "Preferences updated", "preferences": preferences}


@api.post("/customer/feedback")
def customer_feedback():
    """Feedback (and an optional 1-5 rating) on the customer's own delivered order, once."""
    caller = require_role(CUSTOMER)
    body = json_body(schemas.FEEDBACK)
    feedback = support.add_feedback(caller, body["order_id"], body["feedback"], body.get("rating"))
    return {"message": "Feedback submitted successfully", "feedback": feedback}, 201


# --------------------------------------------------------------------------------------------
# Customers and delivery persons
# --------------------------------------------------------------------------------------------


@api.post("/raise-issue")
def raise_issue():
    """A customer or courier reports a problem, optionally about an order they own or carry."""
    caller = require_role(CUSTOMER, COURIER)
    body = json_body(schemas.RAISE_ISSUE)
    issue = support.raise_issue(caller, body["message"], body.get("order_id"))
    return {"message": "Issue raised successfully", "issue": issue}, 201


# --------------------------------------------------------------------------------------------
# Delivery person
# --------------------------------------------------------------------------------------------


@api.get("/delivery/assigned-orders")
def delivery_assigned_orders():
    """The courier's active orders, oldest first."""
    caller = require_role(COURIER)
    page = page_args({"order_id": (int,)}, "order_id")
    rows, next_cursor = orders.courier_orders(caller.id, page, finished=False)
    return {"orders": rows, "next_cursor": next_cursor}


@api.patch("/delivery/update-status")
def delivery_update_status():
    """The assigned courier moves an order along its lifecycle."""
    caller = require_role(COURIER)
    body = json_body(schemas.UPDATE_STATUS)
    with db.transaction():
        lifecycle.courier_update(
            body["order_id"],
            caller.id,
            body["status"],
            caller,
            note=clean(body.get("note")),
            location=clean(body.get("location")),
            reason=body.get("reason"),
            code=body.get("code"),
        )
    return {"message": "Status updated successfully", "order": orders.get_order(body["order_id"])}


@api.post("/delivery/confirm-delivery")
def delivery_confirm_delivery():
    """Set Delivered with the code scanned from the customer's QR code."""
    caller = require_role(COURIER)
    body = json_body(schemas.CONFIRM_DELIVERY)
    with db.transaction():
        lifecycle.courier_update(
            body["order_id"],
            caller.id,
            "Delivered",
            caller,
            note=clean(body.get("note")),
            location=clean(body.get("location")),
            code=body["code"],
        )
    return {"message": "Delivery confirmed", "order": orders.get_order(body["order_id"])}


@api.post("/delivery/orders/<int:order_id>/proof")
def delivery_order_proof(order_id):
    """Set Delivered (or Failed Attempt) with a photo and/or signature, as multipart form data."""
    caller = require_role(COURIER)
    form = pod_files.parse_form(current_app.config)
    with db.transaction():
        event_id = lifecycle.courier_update(
            order_id,
            caller.id,
            form.status,
            caller,
            note=form.note,
            location=form.location,
            reason=form.reason,
            code=form.code,
            captured=form.kinds(),
        )
        pod_files.store(order_id, event_id, caller.id, form.files)
    order = orders.get_order(order_id)
    order["proof"] = pod_files.proof_summary(order_id)
    return {"message": "Status updated with proof", "order": order}


@api.patch("/delivery/update-location")
def delivery_update_location():
    """The courier reports a position and/or location text, for one or all of their active orders."""
    caller = require_role(COURIER)
    body = json_body(schemas.UPDATE_LOCATION)
    lat, lng, location = body.get("latitude"), body.get("longitude"), clean(body.get("location"))
    if (lat is None) != (lng is None):
        missing = "longitude" if lng is None else "latitude"
        problem = {missing: "required with the other coordinate"}
        raise bad_request("Missing required fields", "missing_fields", problem)
    if lat is None and location is None:
        problem = {
            "latitude": "required (with longitude) unless location is given",
            "location": "required without coordinates",
        }
        raise bad_request("Missing required fields", "missing_fields", problem)
    with db.transaction():
        ids = tracking.update_location(caller, lat, lng, location, body.get("order_id"))
    position = {"latitude": lat, "longitude": lng, "location": location}
    return {"message": "Location updated successfully", "order_ids": ids, "position": position}


@api.get("/delivery/history")
def delivery_history():
    """The courier's finished orders (Delivered, Returned, Cancelled), newest first."""
    caller = require_role(COURIER)
    page = page_args({"-closed_at": (orders.datetime, int)}, "-closed_at")
    rows, next_cursor = orders.courier_orders(caller.id, page, finished=True)
    return {"orders": rows, "next_cursor": next_cursor}


# --------------------------------------------------------------------------------------------
# Public tracking (no login; rate limited per client by TRACK_RATE_LIMIT)
# --------------------------------------------------------------------------------------------


@api.get("/track/<tracking_number>")
@limiter.limit(tracking.track_rate_limit)
def track(tracking_number):
    """Anyone with the tracking number: status, public timeline, last location; no personal data."""
    return tracking.public_view(*tracking.public_order(tracking_number))


@api.get("/track/<tracking_number>/events")
@limiter.limit(tracking.track_rate_limit)
def track_events(tracking_number):
    """The public view live, as Server-Sent Events; ends when the order is final."""
    order, _ = tracking.public_order(tracking_number)
    return live.stream(order, public=True)


if __name__ == "__main__":
    application = create_app()
    application.run(host=application.config["HOST"], port=application.config["PORT"])
