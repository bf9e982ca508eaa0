"""The OpenAPI 3.1 document, built from the same JSON Schemas (courier/schemas.py) that validate requests,
and the offline Swagger UI page that renders it.

OpenAPI 3.1's schema dialect is JSON Schema 2020-12, the dialect jsonschema validates requests with, so each
request body below *is* the schema object json_body() checks: the two cannot drift apart. ROUTES is the one
table of every route; tests/test_openapi.py fails when it and the app's registered routes differ.
"""

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from flask import Response, abort, request, send_from_directory

from . import orders, pagination, schemas, support

ADMIN, CUSTOMER, COURIER = "admin", "customer", "delivery_person"
ALL_ROLES = (ADMIN, CUSTOMER, COURIER)
ID = {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}
NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": schemas.MAX_ID}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
STR = {"type": "string"}
NULLABLE_STR = {"type": ["string", "null"]}
NUMBER = {"type": ["number", "null"]}
BOOL = {"type": "boolean"}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def shape(required, **properties):
    """A response object: these keys are always there; more may be added later."""
    return {"type": "object", "required": list(required), "properties": properties}


def nullable(schema):
    return {"anyOf": [schema, {"type": "null"}]}


def page_of(key, item):
    return shape(
        [key, "next_cursor"], **{key: {"type": "array", "items": ref(item)}}, next_cursor=NULLABLE_STR
    )


# How a Delivered event was proven (proof of delivery); null on every other event.
PROOF = {
    "type": ["string", "null"],
    "pattern": "^(admin_override|(code|photo|signature)(,(photo|signature))*)$",
    "description": "How a Delivered event was proven: admin_override, or what was checked, e.g. code or photo,signature",
}

# Response bodies (request bodies come from courier/schemas.py).
RESPONSE_SCHEMAS = {
    "Error": {
        **shape(
            ["error", "code"],
            error={"type": "string", "description": "A message a person can read"},
            code={"type": "string", "pattern": "^[a-z0-9_]+$", "description": "Machine-readable, snake_case"},
            fields={
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Each offending field (or query parameter) and what is wrong with it",
            },
        ),
        "description": "Every error. Some add details, e.g. `allowed` next statuses on an illegal move.",
    },
    "Status": shape(["status"], status=STR),
    "Message": shape(["message"], message=STR),
    "User": shape(
        ["id", "user_type", "created_at"],
        id=ID,
        user_type={"enum": schemas.USER_TYPES},
        name=STR,
        email=STR,
        username=STR,
        phone=NULLABLE_STR,
        address=STR,
        created_at=TIME,
    ),
    "UserPage": page_of("users", "User"),
    "Order": shape(
        ["order_id", "tracking_number", "customer_id", "assigned_to", "status", "created_at"],
        order_id=ID,
        tracking_number=STR,
        customer_id=ID,
        assigned_to=NULLABLE_ID,
        status={"enum": schemas.STATUSES},
        location=NULLABLE_STR,
        pickup_address=STR,
        delivery_address=STR,
        recipient_name=STR,
        recipient_phone=NULLABLE_STR,
        description=NULLABLE_STR,
        weight_kg=NUMBER,
        created_at=TIME,
        updated_at=TIME,
        closed_at=NULLABLE_TIME,
    ),
    "OrderPage": page_of("orders", "Order"),
    "OrderResult": shape(["message", "order"], message=STR, order=ref("Order")),
    "Event": shape(
        ["status", "at", "note", "location", "proof", "actor"],
        event_id=ID,
        type=STR,
        status=STR,
        at=TIME,
        note=NULLABLE_STR,
        reason=NULLABLE_STR,
        location=NULLABLE_STR,
        proof=PROOF,
        actor=shape(["role"], role=STR, name=NULLABLE_STR),
    ),
    "Position": shape(
        ["latitude", "longitude", "location", "at"],
        latitude=NUMBER,
        longitude=NUMBER,
        location=NULLABLE_STR,
        at=TIME,
    ),
    "OrderTracking": shape(
        ["order", "events", "courier", "last_position", "trail"],
        order=ref("Order"),
        events={"type": "array", "items": ref("Event")},
        courier=nullable(shape(["delivery_person_id", "name"], delivery_person_id=ID, name=NULLABLE_STR)),
        last_position=nullable(ref("Position")),
        trail={"type": "array", "items": ref("Position")},
    ),
    "PublicTracking": shape(
        ["tracking_number", "status", "created_at", "updated_at", "last_location", "position", "events"],
        tracking_number=STR,
        status={"enum": schemas.STATUSES},
        created_at=TIME,
        updated_at=TIME,
        last_location=NULLABLE_STR,
        position=nullable(shape(["latitude", "longitude"], latitude=NUMBER, longitude=NUMBER, at=TIME)),
        events={"type": "array", "items": ref("PublicEvent")},
    ),
    "PublicEvent": shape(
        ["type", "status", "at", "location", "reason", "proof", "actor"],
        type=STR,
        status=STR,
        at=TIME,
        location=NULLABLE_STR,
        reason=NULLABLE_STR,
        proof=PROOF,
        actor=shape(["role"], role=STR),
    ),
    "Issue": shape(
        ["issue_id", "user_type", "user_id", "order_id", "message", "status", "created_at"],
        issue_id=ID,
        user_type=STR,
        user_id=ID,
        order_id=NULLABLE_ID,
        message=STR,
        status={"enum": schemas.ISSUE_STATUSES},
        response=NULLABLE_STR,
        responded_by=NULLABLE_ID,
        responded_at=NULLABLE_TIME,
        created_at=TIME,
        updated_at=TIME,
    ),
    "IssuePage": page_of("issues", "Issue"),
    "IssueResult": shape(["message", "issue"], message=STR, issue=ref("Issue")),
    "Feedback": shape(
        ["message", "feedback"],
        message=STR,
        feedback=shape(
            ["feedback_id", "order_id", "customer_id", "feedback", "rating", "created_at"],
            feedback_id=ID,
            order_id=ID,
            customer_id=ID,
            feedback=STR,
            rating={"type": ["integer", "null"]},
            created_at=TIME,
        ),
    ),
    "UserResult": shape(["message", "user"], message=STR, user=ref("User")),
    "Signup": shape(["message", "customer_id", "user"], message=STR, customer_id=ID, user=ref("User")),
    "Tokens": shape(
        ["token"],
        message=STR,
        token=STR,
        refresh_token=STR,
        token_type={"enum": ["Bearer"]},
        expires_in={"type": "integer"},
        role={"enum": list(ALL_ROLES)},
        id=ID,
    ),
    "SessionsEnded": shape(
        ["message", "revoked_sessions"], message=STR, revoked_sessions={"type": "integer", "minimum": 0}
    ),
    "DeletedUser": shape(["message", "user_type", "user_id"], message=STR, user_type=STR, user_id=ID),
    "LocationResult": shape(
        ["message", "order_ids", "position"],
        message=STR,
        order_ids={"type": "array", "items": ID},
        position=shape(["latitude", "longitude", "location"], latitude=NUMBER, longitude=NUMBER),
    ),
}


def _analytics_schema():
    """GET /admin/analytics: every figure is about the orders (issues) created in [from, to]."""
    count = {"type": "integer", "minimum": 0}
    rate = {
        "type": ["number", "null"],
        "minimum": 0,
        "maximum": 1,
        "description": "0 to 1; null: nothing to divide",
    }
    seconds = {"type": ["number", "null"], "description": "Seconds from placement to delivery; null: none"}
    rating = {
        "type": ["number", "null"],
        "minimum": 1,
        "maximum": 5,
        "description": "Mean rating; null: none",
    }

    def counts(names):
        return {**shape(names, **dict.fromkeys(names, count)), "additionalProperties": False}

    day = shape(
        ["date", "orders", "delivered"],
        date={"type": "string", "format": "date"},
        orders=count,
        delivered={**count, "description": "Of the orders created that day, how many are Delivered now"},
    )
    courier = shape(
        [
            "delivery_person_id",
            "name",
            "delivered",
            "failed_attempts",
            "average_delivery_seconds",
            "rating",
            "ratings",
        ],
        delivery_person_id=ID,
        name=STR,
        delivered=count,
        failed_attempts=count,
        average_delivery_seconds=seconds,
        rating=rating,
        ratings=count,
    )
    return {
        **shape(
            [
                "from",
                "to",
                "orders",
                "orders_per_day",
                "delivery_rate",
                "first_attempt_success_rate",
                "delivery_time",
                "couriers",
                "issues",
                "feedback",
            ],
            **{"from": TIME, "to": TIME},
            orders=shape(["total", "by_status"], total=count, by_status=counts(schemas.STATUSES)),
            orders_per_day={
                "type": "array",
                "items": day,
                "description": "Every day of the range, zeros included",
            },
            delivery_rate={**rate, "description": "Delivered ÷ (Delivered + Returned + Cancelled)"},
            first_attempt_success_rate={
                **rate,
                "description": "Delivered without a Failed Attempt ÷ (Delivered or had a Failed Attempt)",
            },
            delivery_time=shape(
                ["delivered", "average_seconds", "p90_seconds"],
                delivered=count,
                average_seconds=seconds,
                p90_seconds={**seconds, "description": "90th percentile, nearest rank"},
            ),
            couriers={
                "type": "array",
                "items": courier,
                "description": "Couriers with orders in the range, most deliveries first",
            },
            issues=shape(
                ["by_status", "open"],
                by_status=counts(schemas.ISSUE_STATUSES),
                open={**count, "description": "Open or In Progress now, of any date"},
            ),
            feedback=shape(["ratings", "average_rating"], ratings=count, average_rating=rating),
        ),
        "description": "Order volume, delivery rates and times, per-courier figures, issues and ratings",
    }


# Issue 7: notifications, webhooks, proof of delivery. Issue 8: analytics.
RESPONSE_SCHEMAS.update(
    {
        "Preferences": shape(
            ["preferences"], message=STR, preferences=shape(["email", "sms"], email=BOOL, sms=BOOL)
        ),
        "DeliveryCode": shape(
            ["order_id", "tracking_number", "code", "qr_url"],
            order_id=ID,
            tracking_number=STR,
            code={
                "type": "string",
                "pattern": "^[0-9A-HJKMNP-TV-Z]{10}$",
                "description": "10 Crockford base32 characters; couriers may send it in lower case, with hyphens",
            },
            qr_url={"type": "string", "description": "The path of the same code as a QR code (PNG or SVG)"},
        ),
        "Notification": shape(
            ["notification_id", "channel", "event_type", "event_id", "status", "attempts", "created_at"],
            notification_id=ID,
            channel={"enum": schemas.CHANNELS},
            event_type=STR,
            event_id=STR,
            order_id=NULLABLE_ID,
            issue_id=NULLABLE_ID,
            webhook_id=NULLABLE_ID,
            recipient=STR,
            status={"enum": schemas.NOTIFICATION_STATUSES},
            attempts={"type": "integer", "minimum": 0},
            max_attempts={"type": ["integer", "null"], "description": "Parked as failed after this many"},
            next_attempt_at=NULLABLE_TIME,
            give_up_at={**NULLABLE_TIME, "description": "Webhooks: parked as failed after this time"},
            last_status_code={"type": ["integer", "null"]},
            last_error=NULLABLE_STR,
            created_at=TIME,
            updated_at=TIME,
            sent_at=NULLABLE_TIME,
            payload={"type": "object", "description": "GET /admin/notifications/{notification_id} only"},
            attempts_log={
                "type": "array",
                "description": "GET /admin/notifications/{notification_id} only: every attempt, oldest first",
                "items": shape(
                    ["attempt", "ok", "status_code", "error", "created_at"],
                    attempt={"type": "integer", "minimum": 1},
                    ok=BOOL,
                    status_code={"type": ["integer", "null"]},
                    error=NULLABLE_STR,
                    duration_ms={"type": ["integer", "null"]},
                    worker=NULLABLE_STR,
                    created_at=TIME,
                ),
            },
        ),
        "NotificationPage": page_of("notifications", "Notification"),
        "NotificationResult": shape(["notification"], message=STR, notification=ref("Notification")),
        "Webhook": shape(
            ["webhook_id", "url", "events", "enabled", "created_at"],
            webhook_id=ID,
            url=STR,
            events={"type": "array", "items": STR},
            description=NULLABLE_STR,
            enabled=BOOL,
            consecutive_failures={"type": "integer", "minimum": 0},
            disabled_at=NULLABLE_TIME,
            last_success_at=NULLABLE_TIME,
            last_failure_at=NULLABLE_TIME,
            secret={"type": "string", "description": "Only in the answer to POST /admin/webhooks"},
            created_at=TIME,
            updated_at=TIME,
            deliveries={
                "type": "array",
                "description": "GET /admin/webhooks/{webhook_id} only: the latest 20 deliveries, newest first",
                "items": shape(
                    ["notification_id", "event_type", "event_id", "status", "attempts", "attempts_log"],
                    notification_id=ID,
                    event_type=STR,
                    event_id=STR,
                    order_id=NULLABLE_ID,
                    issue_id=NULLABLE_ID,
                    status={"enum": schemas.NOTIFICATION_STATUSES},
                    attempts={"type": "integer", "minimum": 0},
                    last_status_code={"type": ["integer", "null"]},
                    last_error=NULLABLE_STR,
                    next_attempt_at=NULLABLE_TIME,
                    give_up_at=NULLABLE_TIME,
                    created_at=TIME,
                    sent_at=NULLABLE_TIME,
                    attempts_log={
                        "type": "array",
                        "description": "Every attempt, oldest first",
                        "items": shape(
                            ["attempt", "ok", "status_code", "created_at"],
                            attempt={"type": "integer", "minimum": 1},
                            ok=BOOL,
                            status_code={"type": ["integer", "null"], "description": "The HTTP status"},
                            error=NULLABLE_STR,
                            duration_ms={"type": ["integer", "null"]},
                            created_at=TIME,
                        ),
                    },
                ),
            },
        ),
        "WebhookPage": page_of("webhooks", "Webhook"),
        "WebhookResult": shape(["webhook"], message=STR, webhook=ref("Webhook")),
        "DeletedWebhook": shape(["message", "webhook_id"], message=STR, webhook_id=ID),
        "Analytics": _analytics_schema(),
    }
)

# Issue 17: proof files and CSV imports.
RESPONSE_SCHEMAS.update(
    {
        "OrderProof": shape(
            ["order_id", "status", "proof"],
            order_id=ID,
            status={"enum": schemas.STATUSES},
            proof=shape(
                ["delivered", "delivered_at", "proved_by", "files"],
                delivered=BOOL,
                delivered_at=NULLABLE_TIME,
                proved_by={
                    "type": "array",
                    "items": STR,
                    "description": 'e.g. ["code"], ["photo", "signature"]',
                },
                files={
                    "type": "array",
                    "items": shape(
                        ["proof_id", "kind", "status", "content_type", "size_bytes", "sha256", "captured_at"],
                        proof_id=ID,
                        kind={"enum": ["photo", "signature"]},
                        status={"enum": schemas.STATUSES, "description": "Captured with this status change"},
                        content_type=STR,
                        size_bytes={"type": "integer", "minimum": 1},
                        sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        captured_at=TIME,
                        url={"type": "string", "description": "Where to fetch the file"},
                    ),
                },
            ),
        ),
        "ImportReport": shape(
            ["import_id", "dry_run", "atomic", "rows", "valid", "invalid", "created", "results"],
            import_id=NULLABLE_ID,
            dry_run=BOOL,
            atomic=BOOL,
            rows={"type": "integer", "minimum": 0},
            valid={"type": "integer", "minimum": 0},
            invalid={"type": "integer", "minimum": 0},
            created={"type": "integer", "minimum": 0},
            message=STR,
            results={
                "type": "array",
                "items": shape(
                    ["row", "order_id", "tracking_number"],
                    row={"type": "integer", "description": "Line number in the file (the header is line 1)"},
                    order_id=NULLABLE_ID,
                    tracking_number=NULLABLE_STR,
                    errors={"type": "object", "additionalProperties": STR, "description": "Column: problem"},
                    values={"type": "object", "additionalProperties": STR, "description": "The row's cells"},
                ),
            },
        ),
    }
)

ERROR_MEANINGS = {
    400: "Malformed, missing or invalid input (also a body that is not JSON, or an unknown field)",
    401: "No, bad, expired or revoked token",
    403: "Authenticated, but not with a role allowed here",
    404: "No such object, or one that belongs to someone else",
    409: "Conflict with the current state (duplicate, illegal status move, lost race)",
    413: "Request body too large (1 MiB at most; files: POD_MAX_UPLOAD_BYTES, CSV imports: IMPORT_MAX_BYTES)",
    422: "A wrong proof-of-delivery code (counted: too many lock the order for an admin), or an import whose"
    " rows have errors (atomic=true, or none could be created)",
    429: "Rate limited: retry after the Retry-After header's seconds",
    503: "The database is unreachable: retry shortly",
}


def param(name, schema, description, where="query", required=False):
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def path_id(name, description):
    return param(name, {"type": "integer", "minimum": 0}, description, "path")


def list_params(sorts, default_sort):
    """?limit=, ?cursor= and ?sort= of every keyset-paginated list."""
    limit = {
        "type": "integer",
        "minimum": 1,
        "maximum": pagination.MAX_LIMIT,
        "default": pagination.DEFAULT_LIMIT,
    }
    sort = {"enum": list(sorts), "default": default_sort}
    return [
        param(
            "limit", limit, f"Items per page, {pagination.DEFAULT_LIMIT} by default, at most 100 (more: 400)"
        ),
        param(
            "cursor", STR, "Opaque: the previous page's next_cursor (same sort); absent for the first page"
        ),
        param("sort", sort, "Sort order (a leading '-' means descending)"),
    ]


ORDER_SORTS = list(orders.ORDER_SORTS)
DATE = {"type": "string", "description": "ISO 8601 date (2026-01-31) or date-time (2026-01-31T12:00:00Z)"}
STATUS_FILTER = param("status", {"enum": schemas.STATUSES}, "Only orders in this status")
DATE_FILTERS = [
    param("created_from", DATE, "Only orders created at or after this time (a date: from its start)"),
    param("created_to", DATE, "Only orders created at or before this time (a date: to its end)"),
]
SSE = {"text/event-stream": {"schema": {"type": "string"}}}
PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}, "image/svg+xml": {"schema": STR}}
CSV = {"text/csv": {"schema": STR}}


@dataclass
class Route:
    """One operation: who may call it, what it takes, and what it answers."""

    method: str
    path: str
    tag: str
    roles: tuple  # empty: no login
    ok: tuple  # (success status, response schema name or a content map)
    summary: str
    body: str | None = None  # the name of a request schema in courier/schemas.py
    body_optional: bool = False
    params: list = field(default_factory=list)
    errors: tuple = ()  # statuses beyond the ones every route of its kind gives
    headers: dict = field(default_factory=dict)  # response headers
    security: str = "access"  # the token a protected route takes: "access" or "refresh"
    upload: dict | None = None  # a request body other than JSON: {media type: schema} (multipart, CSV)
    also_ok: tuple = ()  # another success: (status, response schema name or a content map)


R = Route
DOCS, HEALTH, AUTH, ADMIN_TAG = "Documentation", "Health", "Authentication and accounts", "Admin"
CONSOLE, NOTIFY = "Web console", "Notifications and webhooks"
CUST_TAG, BOTH_TAG, COURIER_TAG, TRACK = (
    "Customer",
    "Customers and delivery persons",
    "Delivery person",
    "Tracking",
)
ORDER_ID = path_id("order_id", "The order's id")
TRACKING_NUMBER = param(
    "tracking_number", {"type": "string", "maxLength": 64}, "The order's tracking number", "path"
)

LIVE = [
    param(
        "Last-Event-ID", STR, "Resume after this event id (EventSource sends it when reconnecting)", "header"
    ),
    param("last_event_id", {"type": "integer", "minimum": 0}, "Resume after this event id"),
]
NOTIFICATION_ID = path_id("notification_id", "The notification's id")
WEBHOOK_ID = path_id("webhook_id", "The webhook endpoint's id")
USER_TYPE = param("user_type", {"enum": schemas.USER_TYPES}, "The account's type", "path")
JSON_DOC = {"application/json": {"schema": {"type": "object"}}}
HTML, ANY = {"text/html": {"schema": STR}}, {"*/*": {"schema": STR}}
PUBLIC = ()

# fmt: off
# One line per route: method, path, tag, roles (empty: no login), (success status, response), summary;
# then what it takes and any error statuses beyond those every route of its kind gives (see error_statuses).
ROUTES = [
    R("get", "/", CONSOLE, PUBLIC, (200, HTML), "The web console (log in, then your role's screens)"),
    R("get", "/t/{tracking_number}", CONSOLE, PUBLIC, (200, HTML),
      "Public tracking page: timeline and, while Out for Delivery, a map", params=[TRACKING_NUMBER]),
    R("get", "/openapi.json", DOCS, PUBLIC, (200, JSON_DOC), "This OpenAPI 3.1 document"),
    R("get", "/docs", DOCS, PUBLIC, (200, HTML), "Swagger UI for this document (served offline, no CDN)"),
    R("get", "/docs/{filename}", DOCS, PUBLIC, (200, ANY), "Swagger UI's files",
      params=[param("filename", STR, "A file of Swagger UI", "path")]),
    R("get", "/healthz", HEALTH, PUBLIC, (200, "Status"), "The process is up (not the database)"),
    R("get", "/readyz", HEALTH, PUBLIC, (200, "Status"), "The database answers (503 while it does not)"),
    R("post", "/signup", AUTH, PUBLIC, (201, "Signup"), "A customer creates their own account",
      body="SIGNUP", errors=(409,)),
    R("post", "/login", AUTH, PUBLIC, (200, "Tokens"), "Log in with email or (admins) username",
      body="LOGIN", errors=(401,)),
    R("post", "/register", AUTH, (ADMIN,), (201, "UserResult"), "Create a delivery person or an admin",
      body="REGISTER", errors=(409,)),
    R("post", "/refresh", AUTH, ALL_ROLES, (200, "Tokens"), "A new access token for a refresh token",
      security="refresh"),
    R("post", "/logout", AUTH, ALL_ROLES, (200, "SessionsEnded"), "End this login session (both of its tokens)",
      body="LOGOUT", body_optional=True),
    R("post", "/change-password", AUTH, ALL_ROLES, (200, "SessionsEnded"),
      "Change your password; your other sessions end", body="CHANGE_PASSWORD", errors=(409,)),
    R("get", "/admin/users", ADMIN_TAG, (ADMIN,), (200, "UserPage"), "Live users of every type",
      params=[param("type", {"enum": schemas.USER_TYPES}, "Only this type"), *list_params(["type"], "type")]),
    R("get", "/admin/orders", ADMIN_TAG, (ADMIN,), (200, "OrderPage"), "Orders, newest first by default",
      params=[STATUS_FILTER, param("customer_id", ID, "Only this customer's orders"),
              param("assigned_to", ID, "Only orders assigned to this courier"), *DATE_FILTERS,
              *list_params(ORDER_SORTS, "-created_at")]),
    R("get", "/admin/orders/export.csv", ADMIN_TAG, (ADMIN,), (200, CSV),
      "The filtered orders as CSV, streamed", params=[STATUS_FILTER, param("customer_id", ID, "Only this customer's orders"),
              param("assigned_to", ID, "Only orders assigned to this courier"), *DATE_FILTERS]),
    R("get", "/admin/analytics", ADMIN_TAG, (ADMIN,), (200, "Analytics"),
      "Orders by status and per day, delivery rates and times, per-courier figures, issues, ratings",
      params=[param("from", DATE, "Start of the range (a date: from its start); default 30 days before to"),
              param("to", DATE, "End of the range (a date: to its end); default now")]),
    R("post", "/admin/assign-delivery", ADMIN_TAG, (ADMIN,), (200, "OrderResult"),
      "Assign a Pending order to a courier, or move an Assigned one with reassign: true",
      body="ASSIGN", errors=(404, 409)),
    R("post", "/admin/cancel-order/{order_id}", ADMIN_TAG, (ADMIN,), (200, "OrderResult"),
      "Cancel any order that is not final", body="CANCEL", body_optional=True, params=[ORDER_ID],
      errors=(409,)),
    R("post", "/admin/return-order/{order_id}", ADMIN_TAG, (ADMIN,), (200, "OrderResult"),
      "Close a Failed Attempt order as Returned", body="CANCEL", body_optional=True, params=[ORDER_ID],
      errors=(409,)),
    R("post", "/admin/override-delivery/{order_id}", ADMIN_TAG, (ADMIN,), (200, "OrderResult"),
      "Mark an Out for Delivery order Delivered without the code, with a reason", body="OVERRIDE_DELIVERY",
      params=[ORDER_ID], errors=(409,)),
    R("post", "/admin/unlock-delivery/{order_id}", ADMIN_TAG, (ADMIN,), (200, "OrderResult"),
      "Let the courier try the delivery code again on a locked order", body="CANCEL", body_optional=True,
      params=[ORDER_ID], errors=(409,)),
    R("delete", "/admin/delete-user/{user_type}/{user_id}", ADMIN_TAG, (ADMIN,), (200, "DeletedUser"),
      "Close an account; its history is kept", params=[USER_TYPE, path_id("user_id", "The account's id")],
      errors=(400, 409)),
    R("get", "/admin/issues", ADMIN_TAG, (ADMIN,), (200, "IssuePage"), "Issues, newest first by default",
      params=[param("status", {"enum": schemas.ISSUE_STATUSES}, "Only issues in this status"),
              *list_params(support.ISSUE_SORTS, "-issue_id")]),
    R("patch", "/admin/issues", ADMIN_TAG, (ADMIN,), (200, "IssueResult"), "Answer an issue",
      body="ANSWER_ISSUE", errors=(404,)),
    R("get", "/admin/notifications", NOTIFY, (ADMIN,), (200, "NotificationPage"),
      "Queued, sent and failed notifications, newest first",
      params=[param("status", {"enum": schemas.NOTIFICATION_STATUSES}, "Only notifications in this status"),
              param("channel", {"enum": schemas.CHANNELS}, "Only this channel"),
              param("order_id", ID, "Only this order's"), param("webhook_id", ID, "Only this endpoint's"),
              *list_params(["-notification_id"], "-notification_id")]),
    R("get", "/admin/notifications/{notification_id}", NOTIFY, (ADMIN,), (200, "NotificationResult"),
      "One notification with every delivery attempt", params=[NOTIFICATION_ID]),
    R("post", "/admin/notifications/{notification_id}/retry", NOTIFY, (ADMIN,), (200, "NotificationResult"),
      "Queue a failed notification again", params=[NOTIFICATION_ID], errors=(409,)),
    R("post", "/admin/webhooks", NOTIFY, (ADMIN,), (201, "WebhookResult"),
      "Register a webhook endpoint; the answer shows its signing secret once", body="WEBHOOK"),
    R("get", "/admin/webhooks", NOTIFY, (ADMIN,), (200, "WebhookPage"), "Registered webhook endpoints",
      params=list_params(["webhook_id"], "webhook_id")),
    R("get", "/admin/webhooks/{webhook_id}", NOTIFY, (ADMIN,), (200, "WebhookResult"),
      "One webhook endpoint and its latest deliveries", params=[WEBHOOK_ID]),
    R("delete", "/admin/webhooks/{webhook_id}", NOTIFY, (ADMIN,), (200, "DeletedWebhook"),
      "Remove a webhook endpoint (its history is kept)", params=[WEBHOOK_ID]),
    R("post", "/admin/webhooks/{webhook_id}/enable", NOTIFY, (ADMIN,), (200, "WebhookResult"),
      "Re-enable an endpoint disabled after consecutive failures", params=[WEBHOOK_ID]),
    R("post", "/admin/webhooks/{webhook_id}/test", NOTIFY, (ADMIN,), (202, "NotificationResult"),
      "Queue a signed webhook.test event to the endpoint", params=[WEBHOOK_ID], errors=(409,)),
    R("post", "/customer/place-order", CUST_TAG, (CUSTOMER,), (201, "OrderResult"),
      "Place an order; an Idempotency-Key header makes retries safe", body="PLACE_ORDER", errors=(409,),
      params=[param("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255},
                    "Retrying with the same key and body returns the first order", "header")],
      headers={"Idempotent-Replayed": "true when this answer replays an earlier request with the same key"}),
    R("get", "/customer/orders", CUST_TAG, (CUSTOMER,), (200, "OrderPage"), "Your own orders",
      params=[STATUS_FILTER, *DATE_FILTERS, *list_params(ORDER_SORTS, "-created_at")]),
    R("get", "/customer/track-order/{order_id}", CUST_TAG, (CUSTOMER,), (200, "OrderTracking"),
      "Your order with its timeline, courier and (Out for Delivery) position", params=[ORDER_ID]),
    R("get", "/customer/track-order/{order_id}/events", CUST_TAG, (CUSTOMER,), (200, SSE),
      "Your order's timeline, live (Server-Sent Events)", params=[ORDER_ID, *LIVE]),
    R("post", "/customer/cancel-order/{order_id}", CUST_TAG, (CUSTOMER,), (200, "OrderResult"),
      "Cancel your own order before pickup", body="CANCEL", body_optional=True, params=[ORDER_ID],
      errors=(409,)),
    R("get", "/customer/orders/{order_id}/qr", CUST_TAG, (CUSTOMER,), (200, PNG),
      "Your order's proof-of-delivery QR code, to show the courier at the door",
      params=[ORDER_ID, param("format", {"enum": ["png", "svg"], "default": "png"}, "Image format")]),
    R("get", "/customer/orders/{order_id}/delivery-code", CUST_TAG, (CUSTOMER,), (200, "DeliveryCode"),
      "Your order's proof-of-delivery code as text", params=[ORDER_ID]),
    R("get", "/customer/preferences", CUST_TAG, (CUSTOMER,), (200, "Preferences"),
      "Which notifications you get"),
    R("patch", "/customer/preferences", CUST_TAG, (CUSTOMER,), (200, "Preferences"),
      "Switch email and/or SMS notifications on or off", body="PREFERENCES"),
    R("post", "/customer/feedback", CUST_TAG, (CUSTOMER,), (201, "Feedback"),
      "Feedback on your own delivered order, once", body="FEEDBACK", errors=(404, 409)),
    R("post", "/raise-issue", BOTH_TAG, (CUSTOMER, COURIER), (201, "IssueResult"),
      "Report a problem, optionally about an order you own or carry", body="RAISE_ISSUE", errors=(404,)),
    R("get", "/delivery/assigned-orders", COURIER_TAG, (COURIER,), (200, "OrderPage"),
      "Your active orders, oldest first", params=list_params(["order_id"], "order_id")),
    R("patch", "/delivery/update-status", COURIER_TAG, (COURIER,), (200, "OrderResult"),
      "Move an order assigned to you along its lifecycle (Delivered needs the delivery code)",
      body="UPDATE_STATUS", errors=(404, 409, 422)),
    R("post", "/delivery/confirm-delivery", COURIER_TAG, (COURIER,), (200, "OrderResult"),
      "Set Delivered with the code scanned from the customer's QR code", body="CONFIRM_DELIVERY",
      errors=(404, 409, 422)),
    R("patch", "/delivery/update-location", COURIER_TAG, (COURIER,), (200, "LocationResult"),
      "Report your position for one or all of your active orders", body="UPDATE_LOCATION", errors=(404, 409)),
    R("get", "/delivery/history", COURIER_TAG, (COURIER,), (200, "OrderPage"),
      "Your finished orders, newest first", params=list_params(["-closed_at"], "-closed_at")),
    R("get", "/track/{tracking_number}", TRACK, PUBLIC, (200, "PublicTracking"),
      "Public tracking: status, timeline, last location (no names, no exact position)",
      params=[TRACKING_NUMBER]),
    R("get", "/track/{tracking_number}/events", TRACK, PUBLIC, (200, SSE),
      "Public tracking, live (Server-Sent Events)", params=[TRACKING_NUMBER, *LIVE]),
]
# fmt: on

# Issue 17: proof files, shipping labels, CSV import.
BINARY = {"type": "string", "format": "binary"}
LABEL = {"application/pdf": {"schema": BINARY}, "application/zpl": {"schema": STR}}
LABEL_FORMAT = param(
    "format",
    {"enum": ["pdf", "zpl"], "default": "pdf"},
    "pdf: a 4x6 inch page per label; zpl: ZPL II for thermal printers (203 dpi)",
)
PROOF_FILE = param("file", ID, "A proof_id from the proof's files: answers that photo or signature itself")
PROOF_ANSWER = {
    "application/json": {"schema": ref("OrderProof")},
    "image/jpeg": {"schema": BINARY},
    "image/png": {"schema": BINARY},
    "image/svg+xml": {"schema": STR},
}
POD_FORM = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "status": {"enum": ["Delivered", "Failed Attempt"], "default": "Delivered"},
            "code": {
                **STR,
                "maxLength": 64,
                "description": "The delivery code (as POD_REQUIRE asks; checked if sent)",
            },
            "reason": {"enum": schemas.FAILURE_REASONS, "description": "Required with Failed Attempt"},
            "note": {**STR, "maxLength": 1000},
            "location": {**STR, "maxLength": 255},
            "photo": {**BINARY, "description": "JPEG or PNG (by its bytes); re-encoded as JPEG without EXIF"},
            "signature": {**BINARY, "description": "PNG or SVG (scripts refused); Delivered only"},
        },
        "additionalProperties": False,
    }
}
CSV_UPLOAD = {
    "text/csv": {"type": "string", "description": "The CSV itself (UTF-8, header row first)"},
    "multipart/form-data": {
        "type": "object",
        "required": ["file"],
        "properties": {"file": BINARY},
        "additionalProperties": False,
    },
}
IMPORT_PARAMS = [
    param("dry_run", BOOL, "true: validate only, create nothing (answers 200 with the report)"),
    param("atomic", BOOL, "true: create nothing if any row has an error (422 with the report)"),
    param("format", {"enum": ["json", "csv"], "default": "json"}, "csv: the per-row report as a CSV file"),
    param(
        "Idempotency-Key",
        {"type": "string", "minLength": 1, "maxLength": 200},
        "Retrying the same file with the same key answers the first import's report",
        "header",
    ),
]
IMPORT_ANSWER = {"application/json": {"schema": ref("ImportReport")}, "text/csv": {"schema": STR}}
ROUTES += [
    R(
        "get",
        "/admin/orders/{order_id}/label",
        ADMIN_TAG,
        (ADMIN,),
        (200, LABEL),
        "Any order's 4x6 inch shipping label (PDF, or ZPL)",
        params=[ORDER_ID, LABEL_FORMAT],
    ),
    R(
        "post",
        "/admin/labels",
        ADMIN_TAG,
        (ADMIN,),
        (200, LABEL),
        "One PDF (or ZPL) of up to 500 orders' labels, one per page",
        body="LABELS",
        params=[LABEL_FORMAT],
        errors=(404,),
    ),
    R(
        "get",
        "/customer/orders/{order_id}/label",
        CUST_TAG,
        (CUSTOMER,),
        (200, LABEL),
        "Your order's 4x6 inch shipping label (PDF, or ZPL)",
        params=[ORDER_ID, LABEL_FORMAT],
    ),
    R(
        "get",
        "/admin/orders/{order_id}/proof",
        ADMIN_TAG,
        (ADMIN,),
        (200, PROOF_ANSWER),
        "An order's proof of delivery: what was captured, when, SHA-256; ?file= one file",
        params=[ORDER_ID, PROOF_FILE],
    ),
    R(
        "get",
        "/customer/orders/{order_id}/proof",
        CUST_TAG,
        (CUSTOMER,),
        (200, PROOF_ANSWER),
        "Your order's proof of delivery: what was captured, when, SHA-256; ?file= one file",
        params=[ORDER_ID, PROOF_FILE],
    ),
    R(
        "post",
        "/delivery/orders/{order_id}/proof",
        COURIER_TAG,
        (COURIER,),
        (200, "OrderResult"),
        "Set Delivered (or Failed Attempt) with a photo and/or signature (multipart form data)",
        upload=POD_FORM,
        params=[ORDER_ID],
        errors=(409, 422),
    ),
    R(
        "post",
        "/admin/orders/import",
        ADMIN_TAG,
        (ADMIN,),
        (201, IMPORT_ANSWER),
        "Create orders for any customers from a CSV file (up to 10,000 rows)",
        upload=CSV_UPLOAD,
        params=IMPORT_PARAMS,
        errors=(409, 422),
    ),
    R(
        "get",
        "/admin/orders/import/template.csv",
        ADMIN_TAG,
        (ADMIN,),
        (200, CSV),
        "The CSV header (and an example row) of POST /admin/orders/import",
    ),
    R(
        "post",
        "/customer/orders/import",
        CUST_TAG,
        (CUSTOMER,),
        (201, IMPORT_ANSWER),
        "Place many of your own orders from a CSV file (up to 10,000 rows)",
        upload=CSV_UPLOAD,
        params=IMPORT_PARAMS,
        errors=(409, 422),
    ),
    R(
        "get",
        "/customer/orders/import/template.csv",
        CUST_TAG,
        (CUSTOMER,),
        (200, CSV),
        "The CSV header (and an example row) of POST /customer/orders/import",
    ),
]

# Request bodies whose schema is chosen by a field: POST /register takes either shape.
COMPOSED_BODIES = {"REGISTER": ("REGISTER_COURIER", "REGISTER_ADMIN")}
NO_DATABASE = {"/openapi.json", "/docs", "/docs/{filename}", "/healthz", "/"}


def request_schemas():
    """{name: schema} of every request body the document names, taken from courier/schemas.py itself."""
    names = set()
    for route in ROUTES:
        if route.body:
            names.update(COMPOSED_BODIES.get(route.body, (route.body,)))
    return {name: getattr(schemas, name) for name in sorted(names) if hasattr(schemas, name)}


def missing_request_schemas():
    """Request schema names in ROUTES that courier/schemas.py does not define (yet)."""
    found = request_schemas()
    return sorted(
        name
        for route in ROUTES
        if route.body
        for name in COMPOSED_BODIES.get(route.body, (route.body,))
        if name not in found
    )


def _body_schema(name):
    parts = COMPOSED_BODIES.get(name, (name,))
    if all(hasattr(schemas, part) for part in parts):
        return ref(name)
    return {"type": "object", "description": f"{name}: not yet defined in courier/schemas.py"}


def _error(status):
    return {
        "description": ERROR_MEANINGS[status],
        "content": {"application/json": {"schema": ref("Error")}},
    }


def error_statuses(route):
    """Every error status the route can give."""
    statuses = set(route.errors) | {429}
    if route.path not in NO_DATABASE:
        statuses.add(503)
    if route.roles:
        statuses |= {401, 403}
    if route.body or route.upload:
        statuses |= {400, 413}
    if any(
        p["in"] == "query" or (p["in"] == "header" and p["name"] != "Authorization") for p in route.params
    ):
        statuses.add(400)
    if any(p["in"] == "path" for p in route.params):
        statuses.add(404)
    return sorted(statuses)


def operation(route):
    status, content = route.ok
    if isinstance(content, str):
        content = {"application/json": {"schema": ref(content)}}
    roles = list(route.roles)
    who = "Roles: " + ", ".join(roles) if roles else "No login."
    if route.security == "refresh":
        who += " Send the refresh token (not the access token) as the bearer token."
    success = {"description": "Success", "content": content}
    if route.headers:
        success["headers"] = {
            name: {"description": text, "schema": STR} for name, text in route.headers.items()
        }
    op = {
        "tags": [route.tag],
        "summary": route.summary,
        "description": who,
        "operationId": route.method + re.sub(r"[^A-Za-z0-9]+", "_", route.path).rstrip("_"),
        "x-roles": roles,
        "security": [{"bearerAuth": []}] if roles else [],
        "parameters": route.params,
        "responses": {str(status): success, **{str(s): _error(s) for s in error_statuses(route)}},
    }
    if route.body:
        op["requestBody"] = {
            "required": not route.body_optional,
            "content": {"application/json": {"schema": _body_schema(route.body)}},
        }
    if route.also_ok:
        other, other_content = route.also_ok
        if isinstance(other_content, str):
            other_content = {"application/json": {"schema": ref(other_content)}}
        op["responses"][str(other)] = {"description": "Success", "content": other_content}
    if route.upload:
        op["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media, schema in route.upload.items()},
        }
    if not route.params:
        del op["parameters"]
    return op


@lru_cache(maxsize=8)
def _document(server_url):
    paths = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = operation(route)
    components = {name: dict(schema) for name, schema in request_schemas().items()}
    for name, parts in COMPOSED_BODIES.items():
        if all(part in components for part in parts):
            components[name] = {"oneOf": [ref(part) for part in parts]}
    components.update(RESPONSE_SCHEMAS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Courier Tracking System",
            "version": "1.0.0",
            "description": (
                "Customers place and follow orders, admins run couriers, orders and issues, delivery persons "
                "work their assigned orders. Log in with POST /login and send "
                "`Authorization: Bearer <token>`. "
                'Every error is `{"error": <message>, "code": <snake_case>}`, plus `fields` for bad input. '
                "Lists take ?limit= (default 20, at most 100) and an opaque ?cursor= from next_cursor."
            ),
        },
        "servers": [{"url": server_url, "description": "This server"}],
        "tags": [{"name": name} for name in dict.fromkeys(route.tag for route in ROUTES)],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The token from POST /login (the refresh token for POST /refresh)",
                }
            },
        },
    }


def document(server_url="/"):
    """The whole OpenAPI document, as a new dict."""
    return json.loads(json.dumps(_document(server_url)))


def openapi_response():
    """GET /openapi.json: the document, with this server as its base URL."""
    return Response(json.dumps(_document(request.script_root or "/")), mimetype="application/json")


# Swagger UI comes from the pinned flask-swagger-ui wheel (Swagger UI 5, which renders OpenAPI 3.1); only its
# static files are used, served by the app itself, so /docs works without any CDN or network.
def _swagger_dir():
    import flask_swagger_ui

    return Path(flask_swagger_ui.__file__).resolve().parent / "dist"


DOCS_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Courier Tracking System API</title>
  <link rel="stylesheet" href="{base}/docs/swagger-ui.css">
  <link rel="stylesheet" href="{base}/docs/index.css">
  <link rel="icon" type="image/png" href="{base}/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{base}/docs/swagger-ui-bundle.js"></script>
  <script src="{base}/docs/swagger-ui-standalone-preset.js"></script>
  <script src="{base}/docs/swagger-initializer.js"></script>
</body>
</html>
"""

INITIALIZER_JS = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: %s,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
"""


# Everything from this server; Swagger UI sets inline styles and uses data: images for its icons.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " frame-ancestors 'none'"
)


def docs_page():
    """GET /docs: Swagger UI's page; its scripts and styles load from this server only."""
    response = Response(DOCS_HTML.format(base=request.script_root), mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def docs_asset(filename):
    """GET /docs/<filename>: one of Swagger UI's files (and the script that points it at /openapi.json)."""
    if filename == "swagger-initializer.js":
        script = INITIALIZER_JS % json.dumps(request.script_root + "/openapi.json")
        return Response(script, mimetype="text/javascript")
    if filename.endswith(".map") or filename in ("LICENSE", "VERSION"):
        abort(404)
    return send_from_directory(_swagger_dir(), filename, max_age=86400)
