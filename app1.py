"""Courier Tracking System: the Flask app factory and every role's routes.

Each route is one declaration and one thin handler: @route(...) says the method and path, the roles allowed
(checked before the handler runs, which gets the `caller`), the request body schema (validated, handed over
as `body`), the query parameters (`query`) and the responses; the OpenAPI document is generated from these
declarations (see courier/routes.py). Handlers parse what is left, call a courier.* module and respond.
"""

import click
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request, stream_with_context
from werkzeug.middleware.proxy_fix import ProxyFix

from courier import (
    accounts,
    analytics,
    auth,
    console,
    db,
    dispatch,
    errors,
    eta,
    export,
    imports,
    labels,
    lifecycle,
    limits,
    live,
    metrics,
    middleware,
    notifications,
    openapi,
    orders,
    pod_files,
    positions,
    proof,
    requestlog,
    routes,
    schemas,
    sessions,
    shifts,
    support,
    tracking,
    webhooks,
    worker,
)
from courier.config import check_dispatch, check_secret, from_env
from courier.errors import bad_request, unauthorized
from courier.limits import limiter
from courier.openapi import (
    ANY,
    CSV,
    CSV_UPLOAD,
    FINAL_STREAM,
    HTML,
    IMPORT_ANSWER,
    JSON_DOC,
    LABEL,
    PNG,
    POD_FORM,
    PROOF_ANSWER,
    SSE,
    SVG,
)
from courier.routes import choice, documented, identifier, list_params, moment
from courier.validation import clean, validate
from courier.vocabulary import (
    ADMIN,
    CHANNELS,
    COURIER,
    CUSTOMER,
    ISSUE_STATUSES,
    NOTIFICATION_STATUSES,
    ROLES,
    STATUSES,
    USER_TYPES,
)

api = Blueprint("api", __name__)
route = routes.Declarer(api)


@click.command("gen-data")
@click.option("--orders", "count", type=click.IntRange(1, 50_000_000), default=1000, show_default=True)
def gen_data_command(count):
    """Fill the configured database with COUNT realistic orders (and customers, couriers, events...)."""
    from tools import gendata  # a development tool, loaded only when this command runs

    if current_app.config["MYSQL_DB"] == "courier1" and not click.confirm(
        "Add generated data to the demo database courier1?", default=False
    ):
        raise click.Abort()
    gendata.generate(current_app.config, count, echo=click.echo)


def create_app(test_config=None):
    """Create and configure the app; test_config overrides the environment."""
    app = Flask(__name__)
    app.config.from_mapping(from_env())
    if test_config:
        app.config.update(test_config)
    check_secret(app)
    check_dispatch(app)
    if app.config.get("TRUSTED_PROXIES"):
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    requestlog.init_app(app)
    middleware.init_app(app)
    errors.register_error_handlers(app)
    db.init_app(app)
    metrics.init_app(app)
    auth.init_app(app)
    limits.init_app(app)
    worker.init_app(app)
    positions.init_app(app)
    eta.init_app(app)
    live.init_app(app)
    app.register_blueprint(api)
    app.cli.add_command(gen_data_command)
    return app


# Tags of the OpenAPI document, one per group of routes below.
CONSOLE, HEALTH, DOCS, AUTH, ADMIN_TAG, NOTIFY = (
    "Web console",
    "Health",
    "Documentation",
    "Authentication and accounts",
    "Admin",
    "Notifications and webhooks",
)
DISPATCH_TAG = "Dispatch"
CUSTOMER_TAG, BOTH_TAG, COURIER_TAG, TRACK = (
    "Customer",
    "Customers and delivery persons",
    "Delivery person",
    "Tracking",
)

# Query parameters that several routes share.
ORDER_FILTERS = (
    choice("status", STATUSES, "Only orders in this status"),
    moment("created_from", "Only orders created at or after this time (a date: from its start)"),
    moment("created_to", "Only orders created at or before this time (a date: to its end)", end_of_day=True),
)
ADMIN_ORDER_FILTERS = (
    ORDER_FILTERS[0],
    identifier("customer_id", "Only this customer's orders"),
    identifier("assigned_to", "Only orders assigned to this courier"),
    choice("late_risk", ("true", "false"), "Only orders whose latest ETA is (true) or is not (false) late"),
    *ORDER_FILTERS[1:],
)
ORDER_PAGE = list_params({name: sort[2] for name, sort in orders.ORDER_SORTS.items()}, "-created_at")
LIVE = (  # read by live.stream
    documented(
        "Last-Event-ID", {"type": "string"}, "Resume after this event id (EventSource sends it when reconnecting)",
        "header",
    ),
    documented("last_event_id", {"type": "integer", "minimum": 0}, "Resume after this event id"),
)  # fmt: skip
IDEMPOTENCY_KEY = documented(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255},
    "Retrying with the same key and body returns the first order",
    "header",
)


# --------------------------------------------------------------------------------------------
# Web console and public tracking page (HTML; the pages call the JSON API below)
# --------------------------------------------------------------------------------------------


@route("GET", "/", tag=CONSOLE, responses={200: HTML}, needs_database=False)
def console_page():
    """The web console (log in, then your role's screens)."""
    return console.index()


@route("GET", "/t/<tracking_number>", tag=CONSOLE, responses={200: HTML})
def tracking_page(tracking_number):
    """Public tracking page: timeline and, while Out for Delivery, a map."""
    return console.tracking_page(tracking_number)


# --------------------------------------------------------------------------------------------
# Health (no login)
# --------------------------------------------------------------------------------------------


@route("GET", "/healthz", tag=HEALTH, responses={200: "Status"}, needs_database=False)
def healthz():
    """The process is up (not the database)."""
    return {"status": "ok"}


@route("GET", "/readyz", tag=HEALTH, responses={200: "Status"})
def readyz():
    """The database answers (503 while it does not)."""
    db.query("SELECT 1")
    return {"status": "ready"}


# --------------------------------------------------------------------------------------------
# Documentation (no login)
# --------------------------------------------------------------------------------------------


@route("GET", "/openapi.json", tag=DOCS, responses={200: JSON_DOC}, needs_database=False)
def openapi_json():
    """This OpenAPI 3.1 document."""
    return openapi.openapi_response()


@route("GET", "/docs", tag=DOCS, responses={200: HTML}, needs_database=False)
def docs():
    """Swagger UI for this document (served offline, no CDN)."""
    return openapi.docs_page()


@route("GET", "/docs/<path:filename>", tag=DOCS, responses={200: ANY}, needs_database=False)
def docs_asset(filename):
    """Swagger UI's files."""
    return openapi.docs_asset(filename)


# --------------------------------------------------------------------------------------------
# Authentication and accounts
# --------------------------------------------------------------------------------------------


@route(
    "POST", "/signup", tag=AUTH, body=schemas.SIGNUP, responses={201: "Signup"}, errors=(409,),
    limits=(limiter.limit(limits.signup_limit, key_func=limits.signup_ip_key),),
)  # fmt: skip
def signup(body):
    """A customer creates their own account."""
    customer = accounts.create_customer(body)
    return {"message": "Signup successful", "customer_id": customer["id"], "user": customer}, 201


@route(
    "POST", "/login", tag=AUTH, body=schemas.LOGIN, responses={200: "Tokens"}, errors=(401,),
    limits=(
        limiter.limit(
            limits.login_limit_per_account, key_func=limits.login_account_key, deduct_when=limits.failed_login
        ),
        limiter.limit(limits.login_limit_per_ip, key_func=limits.client_ip_key, deduct_when=limits.failed_login),
    ),
)  # fmt: skip
def login(body):
    """Log in with email or (admins) username, and password: one login for every role."""
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


@route("POST", "/refresh", tag=AUTH, roles=ROLES, refresh=True, responses={200: "Tokens"})
def refresh(caller):
    """A new access token for the refresh token in the Authorization header (same login session)."""
    return sessions.refresh(caller)


@route(
    "POST", "/logout", tag=AUTH, roles=ROLES, body=schemas.LOGOUT, body_optional=True,
    responses={200: "SessionsEnded"},
)  # fmt: skip
def logout(caller, body):
    """End this login session and, if given, the refresh token's; both of its tokens stop working."""
    revoked = sessions.logout(caller, body.get("refresh_token"))
    return {"message": "Logout successful", "revoked_sessions": revoked}


@route(
    "POST", "/change-password", tag=AUTH, roles=ROLES, body=schemas.CHANGE_PASSWORD,
    responses={200: "SessionsEnded"}, errors=(409,),
    limits=(
        limiter.limit(
            limits.login_limit_per_account,
            key_func=limits.token_account_key,
            deduct_when=limits.failed_password_check,
        ),
    ),
)  # fmt: skip
def change_password(caller, body):
    """Change your password (the old one is required); your other sessions end, this one stays valid."""
    revoked = sessions.change_password(caller, body["old_password"], body["new_password"])
    return {"message": "Password changed", "revoked_sessions": revoked}


@route(
    "POST", "/register", tag=AUTH, roles=(ADMIN,), body=schemas.REGISTER, responses={201: "UserResult"},
    errors=(409,),
)  # fmt: skip
def register(body):
    """An admin creates a delivery person or another admin."""
    user_type = body.get("user_type")
    if user_type == COURIER:
        user = accounts.create_courier(validate(schemas.REGISTER_COURIER, body))
        return {"message": "Delivery person registered", "user": user}, 201
    if user_type == ADMIN:
        user = accounts.create_admin(validate(schemas.REGISTER_ADMIN, body))
        return {"message": "Admin registered", "user": user}, 201
    if user_type is None:
        raise bad_request("Missing required fields", "missing_fields", {"user_type": "required"})
    problem = "must be delivery_person or admin (customers sign up with POST /signup)"
    raise bad_request(f"user_type {problem}", "invalid_fields", {"user_type": problem})


# --------------------------------------------------------------------------------------------
# Admin
# --------------------------------------------------------------------------------------------


@route(
    "GET", "/admin/users", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: "UserPage"},
    query=(choice("type", USER_TYPES, "Only this type"), list_params({"type": (int, int)}, "type")),
)  # fmt: skip
def admin_users(query):
    """Live users of every type (or ?type=): customers, then couriers, then admins."""
    users, next_cursor = accounts.list_users(query["page"], query["type"])
    return {"users": users, "next_cursor": next_cursor}


@route(
    "GET", "/admin/orders", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: "OrderPage"},
    query=(*ADMIN_ORDER_FILTERS, ORDER_PAGE),
)  # fmt: skip
def admin_orders(query):
    """Orders, filtered by status, customer, courier and creation date, newest first by default."""
    page = query.pop("page")
    rows, next_cursor = orders.list_orders(page, *orders.order_filters(**query), ADMIN)
    return {"orders": rows, "next_cursor": next_cursor}


@route(
    "GET", "/admin/orders/export.csv", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: CSV},
    query=ADMIN_ORDER_FILTERS,
)  # fmt: skip
def admin_orders_export(query):
    """The filtered orders as CSV, streamed (constant memory at any size).

    The rows are read as the body is sent, on a connection of the stream's own (the request's connection goes
    back to the pool when the handler returns).
    """
    chunks = export.csv_chunks(*orders.order_filters(**query))
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename()}"'
    response.headers["X-Accel-Buffering"] = "no"  # a proxy passes each chunk on at once
    return response


# Shipping labels, proof files and CSV imports: the parameters their routes share.
LABEL_FORMAT = choice(
    "format",
    labels.FORMATS,
    "pdf: a 4x6 inch page per label; zpl: ZPL II for thermal printers",
    default="pdf",
)
PROOF_FILE = identifier("file", "A proof_id from the proof's files: answers that photo or signature itself")
IMPORT_OPTIONS = (
    documented("dry_run", {"type": "boolean"}, "true: validate only, create nothing (200 with the report)"),
    documented(
        "atomic", {"type": "boolean"}, "true: create nothing if any row has an error (422 with the report)"
    ),
    documented(
        "format", {"enum": ["json", "csv"], "default": "json"}, "csv: the per-row report as a CSV file"
    ),
    documented(
        "Idempotency-Key",
        {"type": "string", "minLength": 1, "maxLength": 200},
        "Retrying the same file with the same key answers the first import's report",
        "header",
    ),
)


def label_response(orders_, fmt):
    body, mimetype, filename = labels.render(orders_, fmt)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def proof_file_response(order_id, file_id, customer_id=None):
    data, mimetype, filename, sha256 = pod_files.proof_file(order_id, file_id, customer_id)
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["ETag"] = f'"{sha256}"'
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def import_response(status, report, replayed, fmt):
    if fmt == "csv":
        response = Response(imports.report_csv(report), mimetype="text/csv")
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = 'attachment; filename="import-report.csv"'
    else:
        response = jsonify(report)
    response.status_code = status
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def template_response(with_customer):
    response = Response(imports.template_csv(with_customer), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="orders-import-template.csv"'
    return response


@route(
    "GET", "/admin/orders/<int:order_id>/label", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: LABEL},
    query=(LABEL_FORMAT,),
)  # fmt: skip
def admin_order_label(order_id, query):
    """Any order's 4x6 inch shipping label: PDF, or ?format=zpl for thermal printers."""
    return label_response([labels.label_order(order_id)], query["format"])


@route(
    "POST", "/admin/labels", tag=ADMIN_TAG, roles=(ADMIN,), body=schemas.LABELS, responses={200: LABEL},
    query=(LABEL_FORMAT,), errors=(404,),
)  # fmt: skip
def admin_labels(body, query):
    """One PDF (or ZPL) of up to 500 orders' labels, one per page, in the order given."""
    return label_response(labels.label_orders(body["order_ids"]), query["format"])


@route(
    "GET", "/admin/orders/<int:order_id>/proof", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: PROOF_ANSWER},
    query=(PROOF_FILE,),
)  # fmt: skip
def admin_order_proof(order_id, query):
    """An order's proof of delivery: what was captured, when, SHA-256; ?file= one photo or signature."""
    if query["file"] is not None:
        return proof_file_response(order_id, query["file"])
    return pod_files.proof_view(order_id)


@route(
    "POST", "/admin/orders/import", tag=ADMIN_TAG, roles=(ADMIN,), upload=CSV_UPLOAD,
    responses={201: IMPORT_ANSWER, 200: IMPORT_ANSWER}, query=IMPORT_OPTIONS, errors=(409, 422),
)  # fmt: skip
def admin_import_orders(caller):
    """Create orders for any customers from a CSV file (up to 10,000 rows); ?dry_run=true validates only."""
    return import_response(*imports.import_file(caller, customer_id=None))


@route(
    "GET", "/admin/orders/import/template.csv", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: CSV},
)  # fmt: skip
def admin_import_template():
    """The CSV header (and an example row) of POST /admin/orders/import."""
    return template_response(with_customer=True)


@route(
    "GET", "/admin/analytics", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: "Analytics"},
    query=(
        moment("from", "Start of the range (a date: from its start); default 30 days before to"),
        moment("to", "End of the range (a date: to its end); default now", end_of_day=True),
    ),
)  # fmt: skip
def admin_analytics(query):
    """Order volume, delivery rates and times, per-courier figures, issues and ratings for ?from=&to=."""
    return analytics.summary(query["from"], query["to"])


@route(
    "POST", "/admin/assign-delivery", tag=ADMIN_TAG, roles=(ADMIN,), body=schemas.ASSIGN,
    responses={200: "OrderResult"}, errors=(404, 409),
)  # fmt: skip
def admin_assign_delivery(caller, body):
    """Assign a Pending order to a courier, or move an Assigned one with "reassign": true."""
    lifecycle.assign(body["order_id"], body["delivery_person_id"], body.get("reassign", False), caller)
    return {
        "message": "Order assigned successfully",
        "order": orders.get_order(body["order_id"], caller.role),
    }


@route(
    "POST", "/admin/cancel-order/<int:order_id>", tag=ADMIN_TAG, roles=(ADMIN,), body=schemas.CANCEL,
    body_optional=True, responses={200: "OrderResult"}, errors=(409,),
)  # fmt: skip
def admin_cancel_order(order_id, caller, body):
    """An admin cancels any order that is not final."""
    lifecycle.cancel(order_id, caller, reason=clean(body.get("reason")))
    return {"message": "Order cancelled", "order": orders.get_order(order_id, caller.role)}


@route(
    "POST", "/admin/return-order/<int:order_id>", tag=ADMIN_TAG, roles=(ADMIN,), body=schemas.CANCEL,
    body_optional=True, responses={200: "OrderResult"}, errors=(409,),
)  # fmt: skip
def admin_return_order(order_id, caller, body):
    """An admin closes a Failed Attempt order as Returned (to the sender)."""
    lifecycle.admin_return(order_id, caller, note=clean(body.get("reason")))
    return {"message": "Order returned", "order": orders.get_order(order_id, caller.role)}


@route(
    "POST", "/admin/override-delivery/<int:order_id>", tag=ADMIN_TAG, roles=(ADMIN,),
    body=schemas.OVERRIDE_DELIVERY, responses={200: "OrderResult"}, errors=(409,),
)  # fmt: skip
def admin_override_delivery(order_id, caller, body):
    """Mark an Out for Delivery order Delivered without the code, with a reason (e.g. after review)."""
    lifecycle.admin_override(order_id, caller, clean(body["reason"]))
    return {"message": "Order marked as delivered", "order": orders.get_order(order_id, caller.role)}


@route(
    "POST", "/admin/unlock-delivery/<int:order_id>", tag=ADMIN_TAG, roles=(ADMIN,), body=schemas.CANCEL,
    body_optional=True, responses={200: "OrderResult"}, errors=(409,),
)  # fmt: skip
def admin_unlock_delivery(order_id, caller, body):
    """Let the courier try the delivery code again on an order locked after too many wrong codes."""
    lifecycle.unlock(order_id, caller, clean(body.get("reason")))
    return {"message": "Delivery code unlocked", "order": orders.get_order(order_id, caller.role)}


@route(
    "DELETE", "/admin/delete-user/<user_type>/<int:user_id>", tag=ADMIN_TAG, roles=(ADMIN,),
    responses={200: "DeletedUser"}, errors=(400, 409),
)  # fmt: skip
def admin_delete_user(user_type, user_id):
    """Close an account; its orders, events, issues and feedback are kept."""
    if user_type not in USER_TYPES:
        problem = "must be one of: " + ", ".join(USER_TYPES)
        raise bad_request(f"user_type {problem}", "invalid_fields", {"user_type": problem})
    accounts.delete_user(user_type, user_id)
    return {"message": "User deleted successfully", "user_type": user_type, "user_id": user_id}


@route(
    "GET", "/admin/issues", tag=ADMIN_TAG, roles=(ADMIN,), responses={200: "IssuePage"},
    query=(
        choice("status", ISSUE_STATUSES, "Only issues in this status"),
        list_params({name: (int,) for name in support.ISSUE_SORTS}, "-issue_id"),
    ),
)  # fmt: skip
def admin_issues(query):
    """Issues raised by customers and couriers, newest first by default, optionally by ?status=."""
    rows, next_cursor = support.list_issues(query["page"], status=query["status"])
    return {"issues": rows, "next_cursor": next_cursor}


@route(
    "PATCH", "/admin/issues", tag=ADMIN_TAG, roles=(ADMIN,), body=schemas.ANSWER_ISSUE,
    responses={200: "IssueResult"}, errors=(404,),
)  # fmt: skip
def admin_answer_issue(caller, body):
    """Answer an issue and/or change its status."""
    issue = support.answer_issue(caller, body["issue_id"], body.get("response"), body.get("status"))
    return {"message": "Issue updated successfully", "issue": issue}


@route(
    "GET", "/admin/notifications", tag=NOTIFY, roles=(ADMIN,), responses={200: "NotificationPage"},
    query=(
        choice("status", NOTIFICATION_STATUSES, "Only notifications in this status"),
        choice("channel", CHANNELS, "Only this channel"),
        identifier("order_id", "Only this order's"),
        identifier("webhook_id", "Only this endpoint's"),
        list_params({"-notification_id": (int,)}, "-notification_id"),
    ),
)  # fmt: skip
def admin_notifications(query):
    """Queued, sent and failed notifications (email, SMS, webhook), newest first."""
    rows, next_cursor = notifications.list_notifications(query.pop("page"), **query)
    return {"notifications": rows, "next_cursor": next_cursor}


@route(
    "GET", "/admin/notifications/<int:notification_id>", tag=NOTIFY, roles=(ADMIN,),
    responses={200: "NotificationResult"},
)  # fmt: skip
def admin_notification(notification_id):
    """One notification with every delivery attempt."""
    return {"notification": notifications.get_notification(notification_id, attempts=True)}


@route(
    "POST", "/admin/notifications/<int:notification_id>/retry", tag=NOTIFY, roles=(ADMIN,),
    responses={200: "NotificationResult"}, errors=(409,),
)  # fmt: skip
def admin_retry_notification(notification_id):
    """Queue a failed notification again, with a fresh retry budget."""
    notification = notifications.retry(notification_id)
    return {"message": "Notification queued again", "notification": notification}


@route(
    "POST",
    "/admin/webhooks",
    tag=NOTIFY,
    roles=(ADMIN,),
    body=schemas.WEBHOOK,
    responses={201: "WebhookResult"},
)
def admin_create_webhook(caller, body):
    """Register a webhook endpoint; the answer shows its signing secret, once."""
    events = webhooks.requested_events(body.get("events"), body.get("event_types"))
    webhook = webhooks.create(caller, body["url"], events, clean(body.get("description")))
    return {"message": "Webhook registered", "webhook": webhook}, 201


@route(
    "GET", "/admin/webhooks", tag=NOTIFY, roles=(ADMIN,), responses={200: "WebhookPage"},
    query=(list_params({"webhook_id": (int,)}, "webhook_id"),),
)  # fmt: skip
def admin_webhooks(query):
    """Registered webhook endpoints (without their secrets)."""
    rows, next_cursor = webhooks.list_webhooks(query["page"])
    return {"webhooks": rows, "next_cursor": next_cursor}


@route(
    "GET", "/admin/webhooks/<int:webhook_id>", tag=NOTIFY, roles=(ADMIN,), responses={200: "WebhookResult"}
)
def admin_webhook(webhook_id):
    """One webhook endpoint and its latest deliveries."""
    return {"webhook": webhooks.get_webhook(webhook_id, deliveries=True)}


@route(
    "DELETE",
    "/admin/webhooks/<int:webhook_id>",
    tag=NOTIFY,
    roles=(ADMIN,),
    responses={200: "DeletedWebhook"},
)
def admin_delete_webhook(webhook_id):
    """Remove a webhook endpoint; its queued deliveries are dropped, its history is kept."""
    webhooks.delete(webhook_id)
    return {"message": "Webhook deleted", "webhook_id": webhook_id}


@route(
    "POST", "/admin/webhooks/<int:webhook_id>/enable", tag=NOTIFY, roles=(ADMIN,),
    responses={200: "WebhookResult"},
)  # fmt: skip
def admin_enable_webhook(webhook_id):
    """Re-enable an endpoint disabled after consecutive failures."""
    return {"message": "Webhook enabled", "webhook": webhooks.enable(webhook_id)}


@route(
    "POST", "/admin/webhooks/<int:webhook_id>/test", tag=NOTIFY, roles=(ADMIN,),
    responses={202: "NotificationResult"}, errors=(409,),
)  # fmt: skip
def admin_test_webhook(webhook_id):
    """Queue a signed webhook.test event to the endpoint."""
    notification = notifications.queue_webhook_test(webhook_id)
    return {"message": "Test event queued", "notification": notification}, 202


@route(
    "GET", "/admin/couriers", tag=DISPATCH_TAG, roles=(ADMIN,), responses={200: "CourierList"},
    query=(choice("on_shift", ["true", "false"], "Only couriers on (or off) shift"),),
)  # fmt: skip
def admin_couriers(query):
    """Couriers with their capacity, depot, shift hours and on-shift state."""
    on_shift = None if query["on_shift"] is None else query["on_shift"] == "true"
    return {"couriers": shifts.list_couriers(on_shift)}


@route(
    "PATCH", "/admin/couriers/<int:courier_id>", tag=DISPATCH_TAG, roles=(ADMIN,),
    body=schemas.COURIER_SETTINGS, responses={200: "CourierResult"},
)  # fmt: skip
def admin_update_courier(courier_id, body):
    """Set a courier's capacity (kg, parcels), depot and shift hours (UTC)."""
    courier = shifts.update_settings(courier_id, body)
    return {"message": "Courier updated", "courier": courier}


@route(
    "POST", "/admin/dispatch/plans", tag=DISPATCH_TAG, roles=(ADMIN,), body=schemas.PLAN, body_optional=True,
    responses={201: "Plan"}, errors=(404, 409),
)  # fmt: skip
def admin_create_plan(caller, body):
    """Plan routes for Pending orders over on-shift couriers (VROOM); nothing is assigned yet."""
    return dispatch.create_plan(caller, body, current_app.config), 201


@route(
    "GET", "/admin/dispatch/plans/<int:plan_id>", tag=DISPATCH_TAG, roles=(ADMIN,), responses={200: "Plan"},
)  # fmt: skip
def admin_plan(plan_id):
    """A stored plan: its routes, unassigned orders with reasons, and whether it was applied."""
    return dispatch.get_plan(plan_id)


@route(
    "POST", "/admin/dispatch/plans/<int:plan_id>/apply", tag=DISPATCH_TAG, roles=(ADMIN,),
    responses={200: "PlanApplied"}, errors=(409,),
)  # fmt: skip
def admin_apply_plan(plan_id, caller):
    """Assign every routed order of the plan in one transaction (409 plan_stale if anything changed)."""
    assigned = dispatch.apply_plan(plan_id, caller)
    return {"message": "Plan applied", "plan": dispatch.get_plan(plan_id), "assigned": assigned}


# --------------------------------------------------------------------------------------------
# Customer
# --------------------------------------------------------------------------------------------


@route(
    "POST", "/customer/place-order", tag=CUSTOMER_TAG, roles=(CUSTOMER,), body=schemas.PLACE_ORDER,
    query=(IDEMPOTENCY_KEY,), responses={201: "OrderResult"}, errors=(409,),
    headers={"Idempotent-Replayed": "true when this answer replays an earlier request with the same key"},
)  # fmt: skip
def customer_place_order(caller, body):
    """Place an order; an Idempotency-Key header makes retries safe."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key.strip()) <= 255:
        raise bad_request("Idempotency-Key must be 1 to 255 characters", "invalid_header")
    order, created = orders.place_order(caller, body, key.strip() if key else None)
    response = jsonify({"message": "Order placed successfully", "order": order})
    response.status_code = 201
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@route(
    "GET", "/customer/orders", tag=CUSTOMER_TAG, roles=(CUSTOMER,), responses={200: "OrderPage"},
    query=(*ORDER_FILTERS, ORDER_PAGE),
)  # fmt: skip
def customer_orders(caller, query):
    """Your own orders, newest first by default, optionally by ?status=."""
    page = query.pop("page")
    where, args = orders.order_filters(customer_id=caller.id, **query)
    rows, next_cursor = orders.list_orders(page, where, args, CUSTOMER)
    return {"orders": rows, "next_cursor": next_cursor}


@route(
    "GET", "/customer/track-order/<int:order_id>", tag=CUSTOMER_TAG, roles=(CUSTOMER,),
    responses={200: "OrderTracking"},
)  # fmt: skip
def customer_track_order(order_id, caller):
    """Your order with its full timeline, courier and, while Out for Delivery, position."""
    return tracking.customer_view(*tracking.customer_order(order_id, caller.id))


@route(
    "GET", "/customer/track-order/<int:order_id>/events", tag=CUSTOMER_TAG, roles=(CUSTOMER,), query=LIVE,
    responses={200: SSE, 204: FINAL_STREAM}, errors=(503,),
)  # fmt: skip
def customer_track_order_events(order_id, caller):
    """Your order live, as Server-Sent Events, full detail; ends when the order is final or your session ends."""
    order, courier = tracking.customer_order(order_id, caller.id)
    return live.stream(order, False, courier, live.token_seconds_left(), caller.session_id)


@route(
    "POST", "/customer/cancel-order/<int:order_id>", tag=CUSTOMER_TAG, roles=(CUSTOMER,), body=schemas.CANCEL,
    body_optional=True, responses={200: "OrderResult"}, errors=(409,),
)  # fmt: skip
def customer_cancel_order(order_id, caller, body):
    """Cancel your own order before pickup."""
    lifecycle.cancel(order_id, caller, reason=clean(body.get("reason")), customer_id=caller.id)
    return {"message": "Order cancelled", "order": orders.get_order(order_id, caller.role)}


@route(
    "GET", "/customer/orders/<int:order_id>/qr", tag=CUSTOMER_TAG, roles=(CUSTOMER,),
    responses={200: PNG, 307: None},
    query=(choice("format", ["png", "svg"], "png; svg redirects to GET .../qr.svg (307)", default="png"),),
)  # fmt: skip
def customer_order_qr(order_id, caller, query):
    """Your order's proof-of-delivery QR code as a PNG, to show the courier at the door."""
    if query["format"] == "svg":
        return redirect(f"/customer/orders/{order_id}/qr.svg", 307)
    return qr_image_response(order_id, caller, "png")


def qr_image_response(order_id, caller, fmt):
    """The caller's order's QR code in one format (one media type per route), never cached."""
    image, filename = proof.customer_qr(order_id, caller.id, fmt)
    response = Response(image, mimetype=proof.QR_TYPES[fmt])
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@route(
    "GET", "/customer/orders/<int:order_id>/qr.svg", tag=CUSTOMER_TAG, roles=(CUSTOMER,), responses={200: SVG},
)  # fmt: skip
def customer_order_qr_svg(order_id, caller):
    """Your order's proof-of-delivery QR code as an SVG drawing."""
    return qr_image_response(order_id, caller, "svg")


@route(
    "GET", "/customer/orders/<int:order_id>/delivery-code", tag=CUSTOMER_TAG, roles=(CUSTOMER,),
    responses={200: "DeliveryCode"},
)  # fmt: skip
def customer_delivery_code(order_id, caller):
    """Your order's proof-of-delivery code as text, for reading it out when the QR code cannot be scanned."""
    response = jsonify(proof.customer_code(order_id, caller.id))
    response.headers["Cache-Control"] = "no-store"
    return response


@route(
    "GET", "/customer/orders/<int:order_id>/label", tag=CUSTOMER_TAG, roles=(CUSTOMER,), responses={200: LABEL},
    query=(LABEL_FORMAT,),
)  # fmt: skip
def customer_order_label(order_id, caller, query):
    """Your order's 4x6 inch shipping label: PDF, or ?format=zpl for thermal printers."""
    return label_response([labels.label_order(order_id, caller.id)], query["format"])


@route(
    "GET", "/customer/orders/<int:order_id>/proof", tag=CUSTOMER_TAG, roles=(CUSTOMER,),
    responses={200: PROOF_ANSWER}, query=(PROOF_FILE,),
)  # fmt: skip
def customer_order_proof(order_id, caller, query):
    """Your order's proof of delivery: what was captured, when, SHA-256; ?file= one photo or signature."""
    if query["file"] is not None:
        return proof_file_response(order_id, query["file"], caller.id)
    return pod_files.proof_view(order_id, caller.id)


@route(
    "POST", "/customer/orders/import", tag=CUSTOMER_TAG, roles=(CUSTOMER,), upload=CSV_UPLOAD,
    responses={201: IMPORT_ANSWER, 200: IMPORT_ANSWER}, query=IMPORT_OPTIONS, errors=(409, 422),
)  # fmt: skip
def customer_import_orders(caller):
    """Place many of your own orders from a CSV file (up to 10,000 rows); ?dry_run=true validates only."""
    return import_response(*imports.import_file(caller, customer_id=caller.id))


@route(
    "GET", "/customer/orders/import/template.csv", tag=CUSTOMER_TAG, roles=(CUSTOMER,), responses={200: CSV},
)  # fmt: skip
def customer_import_template():
    """The CSV header (and an example row) of POST /customer/orders/import."""
    return template_response(with_customer=False)


@route("GET", "/customer/preferences", tag=CUSTOMER_TAG, roles=(CUSTOMER,), responses={200: "Preferences"})
def customer_preferences(caller):
    """Which notifications you get (email, SMS)."""
    return {"preferences": notifications.get_preferences(caller.id)}


@route(
    "PATCH", "/customer/preferences", tag=CUSTOMER_TAG, roles=(CUSTOMER,), body=schemas.PREFERENCES,
    responses={200: "Preferences"},
)  # fmt: skip
def customer_update_preferences(caller, body):
    """Switch email and/or SMS notifications on or off."""
    preferences = notifications.set_preferences(
        caller.id, body.get("email"), body.get("sms"), body.get("arriving_soon")
    )
    return {"message": "Preferences updated", "preferences": preferences}


@route(
    "POST", "/customer/feedback", tag=CUSTOMER_TAG, roles=(CUSTOMER,), body=schemas.FEEDBACK,
    responses={201: "Feedback"}, errors=(404, 409),
)  # fmt: skip
def customer_feedback(caller, body):
    """Feedback (and an optional 1-5 rating) on your own delivered order, once."""
    feedback = support.add_feedback(caller, body["order_id"], body["feedback"], body.get("rating"))
    return {"message": "Feedback submitted successfully", "feedback": feedback}, 201


# --------------------------------------------------------------------------------------------
# Customers and delivery persons
# --------------------------------------------------------------------------------------------


@route(
    "POST", "/raise-issue", tag=BOTH_TAG, roles=(CUSTOMER, COURIER), body=schemas.RAISE_ISSUE,
    responses={201: "IssueResult"}, errors=(404,),
)  # fmt: skip
def raise_issue(caller, body):
    """Report a problem, optionally about an order you own or carry."""
    issue = support.raise_issue(caller, body["message"], body.get("order_id"))
    return {"message": "Issue raised successfully", "issue": issue}, 201


# --------------------------------------------------------------------------------------------
# Delivery person
# --------------------------------------------------------------------------------------------


@route(
    "GET", "/delivery/assigned-orders", tag=COURIER_TAG, roles=(COURIER,), responses={200: "OrderPage"},
    query=(list_params({"order_id": (int,)}, "order_id"),),
)  # fmt: skip
def delivery_assigned_orders(caller, query):
    """Your active orders, oldest first."""
    rows, next_cursor = orders.courier_orders(caller.id, query["page"], finished=False)
    return {"orders": rows, "next_cursor": next_cursor}


@route(
    "PATCH", "/delivery/update-status", tag=COURIER_TAG, roles=(COURIER,), body=schemas.UPDATE_STATUS,
    responses={200: "OrderResult"}, errors=(404, 409, 422),
)  # fmt: skip
def delivery_update_status(caller, body):
    """Move an order assigned to you along its lifecycle (Delivered needs the delivery code)."""
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
    return {
        "message": "Status updated successfully",
        "order": orders.get_order(body["order_id"], caller.role),
    }


@route(
    "POST", "/delivery/confirm-delivery", tag=COURIER_TAG, roles=(COURIER,), body=schemas.CONFIRM_DELIVERY,
    responses={200: "OrderResult"}, errors=(404, 409, 422),
)  # fmt: skip
def delivery_confirm_delivery(caller, body):
    """Set Delivered with the code scanned from the customer's QR code."""
    lifecycle.courier_update(
        body["order_id"],
        caller.id,
        "Delivered",
        caller,
        note=clean(body.get("note")),
        location=clean(body.get("location")),
        code=body["code"],
    )
    return {"message": "Delivery confirmed", "order": orders.get_order(body["order_id"], caller.role)}


@route(
    "POST", "/delivery/orders/<int:order_id>/proof", tag=COURIER_TAG, roles=(COURIER,), upload=POD_FORM,
    responses={200: "OrderResult"}, errors=(404, 409, 422),
)  # fmt: skip
def delivery_order_proof(order_id, caller):
    """Set Delivered (or Failed Attempt) with a photo and/or signature, as multipart form data."""
    form = pod_files.parse_form(current_app.config)
    lifecycle.courier_update(
        order_id,
        caller.id,
        form.status,
        caller,
        note=form.note,
        location=form.location,
        reason=form.reason,
        code=form.code,
        files=form.files,
    )
    order = orders.get_order(order_id, caller.role)
    return {
        "message": "Status updated with proof",
        "order": {**order, "proof": pod_files.proof_summary(order_id)},
    }


@route(
    "PATCH", "/delivery/update-location", tag=COURIER_TAG, roles=(COURIER,), body=schemas.UPDATE_LOCATION,
    responses={200: "LocationResult"}, errors=(404, 409),
)  # fmt: skip
def delivery_update_location(caller, body):
    """Report your position (no timeline event) or a typed location (an event of your active orders)."""
    lat, lng, location = body.get("latitude"), body.get("longitude"), clean(body.get("location"))
    recorded_at = body.get("recorded_at")
    if recorded_at is not None:
        recorded_at = positions.parse_time(recorded_at, "recorded_at")
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
    ids, latest = positions.record_ping(caller, lat, lng, location, body.get("order_id"), recorded_at)
    position = {"latitude": lat, "longitude": lng, "location": location}
    return {
        "message": "Location updated successfully",
        "order_ids": ids,
        "position": position,
        "latest": latest,
    }


@route(
    "POST", "/delivery/locations", tag=COURIER_TAG, roles=(COURIER,), body=schemas.LOCATION_BATCH,
    responses={200: "LocationBatchResult"},
)  # fmt: skip
def delivery_locations(caller, body):
    """Send up to 500 buffered points (recorded_at each); duplicates skipped, bad points answer 400."""
    result = positions.record_batch(caller, body["points"])
    return {"message": "Locations recorded", **result}


@route(
    "GET", "/delivery/history", tag=COURIER_TAG, roles=(COURIER,), responses={200: "OrderPage"},
    query=(list_params({"-closed_at": (orders.datetime, int)}, "-closed_at"),),
)  # fmt: skip
def delivery_history(caller, query):
    """Your finished orders (Delivered, Returned, Cancelled), newest first."""
    rows, next_cursor = orders.courier_orders(caller.id, query["page"], finished=True)
    return {"orders": rows, "next_cursor": next_cursor}


@route(
    "POST", "/delivery/shift/start", tag=COURIER_TAG, roles=(COURIER,), responses={200: "CourierResult"},
    errors=(409,),
)  # fmt: skip
def delivery_shift_start(caller):
    """Start your shift: from now on, plans and auto-dispatch include you."""
    courier = shifts.start_shift(caller.id)
    return {"message": "Shift started", "courier": courier}


@route(
    "POST", "/delivery/shift/end", tag=COURIER_TAG, roles=(COURIER,), responses={200: "CourierResult"},
    errors=(409,),
)  # fmt: skip
def delivery_shift_end(caller):
    """End your shift: plans and auto-dispatch leave you out."""
    courier = shifts.end_shift(caller.id)
    return {"message": "Shift ended", "courier": courier}


@route("GET", "/delivery/route", tag=COURIER_TAG, roles=(COURIER,), responses={200: "Route"})
def delivery_route(caller):
    """Your remaining stops in route order, with ETAs from where you are (today's latest position)."""
    return {"route": dispatch.courier_route(caller.id, current_app.config)}


@route("POST", "/delivery/route/optimize", tag=COURIER_TAG, roles=(COURIER,), responses={200: "Route"})
def delivery_route_optimize(caller):
    """Re-solve your remaining stops from where you are now, and keep the new order."""
    route = dispatch.optimize_route(caller.id, current_app.config)
    return {"message": "Route optimised", "route": route}


# --------------------------------------------------------------------------------------------
# Public tracking (no login; rate limited per client by TRACK_RATE_LIMIT)
# --------------------------------------------------------------------------------------------


@route(
    "GET", "/track/<tracking_number>", tag=TRACK, responses={200: "PublicTracking"},
    limits=(limiter.limit(tracking.track_rate_limit),),
)  # fmt: skip
def track(tracking_number):
    """Public tracking: status, timeline, last location (no names, no exact position)."""
    return tracking.public_view(*tracking.public_order(tracking_number))


@route(
    "GET", "/track/<tracking_number>/events", tag=TRACK, query=LIVE, responses={200: SSE, 204: FINAL_STREAM},
    limits=(limiter.limit(tracking.track_rate_limit),),
)  # fmt: skip
def track_events(tracking_number):
    """Public tracking, live (Server-Sent Events); ends when the order is final."""
    order, courier = tracking.public_order(tracking_number)
    return live.stream(order, True, courier)


if __name__ == "__main__":
    application = create_app()
    application.run(host=application.config["HOST"], port=application.config["PORT"])
