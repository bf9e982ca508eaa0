"""The OpenAPI 3.1 document, generated from the route declarations (courier/routes.py) and Flask's url_map,
and the offline Swagger UI page that renders it.

OpenAPI 3.1's schema dialect is JSON Schema 2020-12, the dialect jsonschema validates requests with, so each
request body in the document *is* the schema object the route's declaration validates with: the two cannot
drift apart. Response bodies are described here (RESPONSE_SCHEMAS), by the names declarations use.
"""

import json
import re
from pathlib import Path

from flask import Response, abort, current_app, request, send_from_directory

from . import errors, routes, schemas, tracking, vocabulary

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
ETA = nullable(
    shape(
        ["expected", "earliest", "latest", "stops_before", "updated_at"],
        expected=TIME,
        earliest=TIME,
        latest=TIME,
        stops_before={"type": "integer", "minimum": 0},
        updated_at=TIME,
    )
)
ETA_REASON = {
    "enum": ["no_coordinates", "no_position", "not_assigned", "final", "not_computed", None],
    "description": "Why eta is null",
}
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
    "User": shape(
        ["id", "user_type", "created_at"],
        id=ID,
        user_type={"enum": vocabulary.USER_TYPES},
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
        status={"enum": vocabulary.STATUSES},
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
        pickup_latitude=NUMBER,
        pickup_longitude=NUMBER,
        delivery_latitude=NUMBER,
        delivery_longitude=NUMBER,
        window_start=NULLABLE_TIME,
        window_end=NULLABLE_TIME,
        late_risk=BOOL,
        allowed_next={
            "type": "array",
            "items": {"enum": vocabulary.STATUSES},
            "description": "The statuses you may move this order to now (in lifecycle order)",
        },
        proof={**ref("Proof"), "description": "In GET /customer/track-order: what proves the delivery"},
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
        eta=ETA,
        eta_reason=ETA_REASON,
    ),
    "PublicTracking": shape(
        ["tracking_number", "status", "created_at", "updated_at", "last_location", "position", "events"],
        tracking_number=STR,
        status={"enum": vocabulary.STATUSES},
        created_at=TIME,
        updated_at=TIME,
        last_location=NULLABLE_STR,
        position=nullable(shape(["latitude", "longitude"], latitude=NUMBER, longitude=NUMBER, at=TIME)),
        events={"type": "array", "items": ref("PublicEvent")},
        eta=ETA,
        eta_reason=ETA_REASON,
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
        status={"enum": vocabulary.ISSUE_STATUSES},
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
        role={"enum": list(vocabulary.ROLES)},
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
        position=shape(
            ["latitude", "longitude", "location"], latitude=NUMBER, longitude=NUMBER, location=NULLABLE_STR
        ),
        latest={"type": "boolean", "description": "whether this point is now the courier's latest position"},
    ),
    "LocationBatchResult": shape(
        ["message", "received", "stored", "duplicates", "latest_recorded_at"],
        message=STR,
        received={"type": "integer", "minimum": 1},
        stored={"type": "integer", "minimum": 0},
        duplicates={"type": "integer", "minimum": 0},
        latest_recorded_at=NULLABLE_TIME,
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
    eta_figures = {
        "count": count,
        "median_abs_error_seconds": {"type": ["integer", "null"], "description": "Nearest rank"},
        "p90_abs_error_seconds": {"type": ["integer", "null"], "description": "Nearest rank"},
        "inside_window_share": {**rate, "description": "Arrived inside the promised window"},
    }
    eta_keys = list(eta_figures)
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
            orders=shape(["total", "by_status"], total=count, by_status=counts(vocabulary.STATUSES)),
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
                by_status=counts(vocabulary.ISSUE_STATUSES),
                open={**count, "description": "Open or In Progress now, of any date"},
            ),
            feedback=shape(["ratings", "average_rating"], ratings=count, average_rating=rating),
            eta={
                **shape(
                    [*eta_keys, "couriers"],
                    **eta_figures,
                    couriers={
                        "type": "array",
                        "items": shape(
                            ["delivery_person_id", *eta_keys], delivery_person_id=NULLABLE_ID, **eta_figures
                        ),
                    },
                ),
                "description": "ETA accuracy over the orders *delivered* in the range (actual arrival - last ETA)",
            },
        ),
        "description": "Order volume, delivery rates and times, per-courier figures, issues and ratings",
    }


RESPONSE_SCHEMAS.update(
    {
        "Preferences": shape(
            ["preferences"],
            message=STR,
            preferences=shape(["email", "sms", "arriving_soon"], email=BOOL, sms=BOOL, arriving_soon=BOOL),
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
            channel={"enum": vocabulary.CHANNELS},
            event_type=STR,
            event_id=STR,
            order_id=NULLABLE_ID,
            issue_id=NULLABLE_ID,
            webhook_id=NULLABLE_ID,
            recipient=STR,
            status={"enum": vocabulary.NOTIFICATION_STATUSES},
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
                    status={"enum": vocabulary.NOTIFICATION_STATUSES},
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

# Proof files and CSV imports.
RESPONSE_SCHEMAS.update(
    {
        "OrderProof": shape(
            ["order_id", "status", "proof"],
            order_id=ID,
            status={"enum": vocabulary.STATUSES},
            proof=ref("Proof"),
        ),
        "Proof": shape(
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
                    status={
                        "enum": vocabulary.STATUSES,
                        "description": "Captured with this status change",
                    },
                    content_type=STR,
                    size_bytes={"type": "integer", "minimum": 1},
                    sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    captured_at=TIME,
                    url={"type": "string", "description": "Where to fetch the file"},
                ),
            },
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

# Dispatch: plans, courier settings, shifts and routes
REASON = {
    "enum": ["no_coordinates", "over_capacity", "window_unreachable", "no_courier_on_shift"],
    "description": "Why the order is not routed (message says it in words)",
}
UNASSIGNED = shape(["order_id", "reason"], order_id=ID, reason=REASON, message=STR)
POINT = shape(["latitude", "longitude"], latitude=NUMBER, longitude=NUMBER)
STOP = shape(
    ["order_id", "type", "latitude", "longitude", "eta", "window_start", "window_end"],
    order_id=ID,
    type={"enum": ["pickup", "delivery"]},
    latitude=NUMBER,
    longitude=NUMBER,
    eta={**NULLABLE_TIME, "description": "When service at the stop begins"},
    window_start=NULLABLE_TIME,
    window_end=NULLABLE_TIME,
    weight_kg=NUMBER,
    status=STR,
    new={
        "type": "boolean",
        "description": "Plans: an order this plan assigns (false: already the courier's)",
    },
)
COUNT = {"type": "integer", "minimum": 0}
RESPONSE_SCHEMAS.update(
    {
        "Courier": shape(
            ["delivery_person_id", "capacity_kg", "capacity_parcels", "shift_start", "shift_end", "on_shift"],
            delivery_person_id=ID,
            name=STR,
            capacity_kg={"type": "number"},
            capacity_parcels={"type": "integer"},
            depot_latitude=NUMBER,
            depot_longitude=NUMBER,
            shift_start={"type": "string", "description": "HH:MM, UTC"},
            shift_end={
                "type": "string",
                "description": "HH:MM, UTC (at or before shift_start: the next day)",
            },
            on_shift=BOOL,
            on_shift_since=NULLABLE_TIME,
        ),
        "CourierList": shape(["couriers"], couriers={"type": "array", "items": ref("Courier")}),
        "CourierResult": shape(["message", "courier"], message=STR, courier=ref("Courier")),
        "Plan": shape(
            ["plan_id", "created_at", "solver_ms", "totals", "routes", "unassigned"],
            plan_id=ID,
            created_at=TIME,
            start_at=TIME,
            solver_ms={"type": "integer", "minimum": 0},
            routing={"enum": ["straight_line", "osrm"]},
            totals=shape(
                ["distance_m", "duration_s"], distance_m=COUNT, duration_s=COUNT, orders=COUNT, routed=COUNT
            ),
            routes={
                "type": "array",
                "items": shape(
                    ["courier_id", "distance_m", "duration_s", "stops"],
                    courier_id=ID,
                    name=STR,
                    distance_m=COUNT,
                    duration_s={**COUNT, "description": "Travel time (without service and waiting)"},
                    start=POINT,
                    end=POINT,
                    shift_start=TIME,
                    shift_end=TIME,
                    stops={"type": "array", "items": STOP},
                ),
            },
            unassigned={"type": "array", "items": UNASSIGNED},
            order_ids={"type": "array", "items": ID},
            courier_ids={"type": "array", "items": ID},
            applied_at=NULLABLE_TIME,
        ),
        "PlanApplied": shape(
            ["message", "plan", "assigned"],
            message=STR,
            plan=ref("Plan"),
            assigned={
                "type": "array",
                "items": shape(["order_id", "courier_id"], order_id=ID, courier_id=ID),
            },
        ),
        "Route": shape(
            ["route"],
            message=STR,
            route=shape(
                ["courier_id", "start", "stops", "unroutable"],
                courier_id=ID,
                start=nullable(POINT),
                distance_m=COUNT,
                duration_s=COUNT,
                stops={"type": "array", "items": STOP},
                unroutable={"type": "array", "items": UNASSIGNED},
            ),
        ),
    }
)

ERROR_MEANINGS = {
    400: "Malformed, missing or invalid input (also a body that is not JSON, or an unknown field)",
    401: "No, bad, expired or revoked token",
    403: "Authenticated, but not with a role allowed here",
    404: "No such object, or one that belongs to someone else",
    409: "Conflict with the current state (duplicate, illegal status move, lost race)",
    413: errors.HTTP_MESSAGES[413][0],
    422: "A wrong proof-of-delivery code (counted: too many lock the order for an admin), or an import whose"
    " rows have errors (atomic=true, or none could be created; the body also carries the per-row report)",
    429: "Rate limited: retry after the Retry-After header's seconds",
    503: "The database is unreachable: retry shortly",
}

# Response content other than a JSON object of RESPONSE_SCHEMAS, for a declaration's responses.
SSE = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": (
                "Server-Sent Events: `retry: 3000`, then per order event the lines `id: <event_id>`, "
                "`event: <type>` (created, status, assignment, location) and `data: <the event as JSON>` (an "
                "`Event` for the owner's stream, a `PublicEvent` for the public one), and a `: heartbeat` comment "
                "every SSE_HEARTBEAT_SECONDS. The stream ends after the event that makes the order final."
            ),
        },
    }
}
# A final order with nothing newer than Last-Event-ID: no stream (EventSource then stops reconnecting).
FINAL_STREAM = None
PNG = {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png", "format": "binary"}}}
SVG = {
    "image/svg+xml": {"schema": {"type": "string", "contentMediaType": "image/svg+xml", "format": "binary"}}
}
CSV = {"text/csv": {"schema": STR}}
JSON_DOC = {"application/json": {"schema": {"type": "object"}}}
HTML, ANY = {"text/html": {"schema": STR}}, {"*/*": {"schema": STR}}
BINARY = {"type": "string", "format": "binary"}
# One media type (a range) for both label formats, so generated clients read either as bytes.
LABEL = {
    "application/*": {
        "schema": {
            **BINARY,
            "description": "application/pdf, or application/zpl (ZPL II text) with ?format=zpl",
        }
    }
}
PROOF_ANSWER = {
    "application/json": {"schema": ref("OrderProof")},
    "image/jpeg": {"schema": BINARY},
    "image/png": {"schema": BINARY},
    "image/svg+xml": {"schema": STR},
}
IMPORT_ANSWER = {"application/json": {"schema": ref("ImportReport")}, "text/csv": {"schema": STR}}
# Request bodies other than JSON (a declaration's upload=): proof files, CSV imports.
POD_FORM = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "status": {"enum": ["Delivered", "Failed Attempt"], "default": "Delivered"},
            "code": {
                **STR,
                "maxLength": 64,
                "description": (
                    "The delivery code, checked if sent. Delivered needs what POD_REQUIRE asks (default `code`:"
                    " a non-empty code; `photo`, `signature`, or `any` of the three): 400 when it is missing"
                ),
            },
            "reason": {"enum": vocabulary.FAILURE_REASONS, "description": "Required with Failed Attempt"},
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

# Path parameters by name (Flask's rule gives the name and, for <int:...>, that it is an id).
PATH_PARAMETERS = {
    "tracking_number": (
        {"type": "string", "maxLength": tracking.MAX_TRACKING_NUMBER},
        "The order's tracking number",
    ),
    "user_type": ({"enum": vocabulary.USER_TYPES}, "The account's type"),
    "filename": (STR, "A file of Swagger UI"),
}
RULE_PARAMETER = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")


def openapi_path(rule):
    """Flask's /orders/<int:order_id> is OpenAPI's /orders/{order_id}."""
    return RULE_PARAMETER.sub(r"{\2}", rule)


def path_params(rule):
    params = []
    for converter, name in RULE_PARAMETER.findall(rule):
        if converter == "int":
            schema, description = ID, f"The {name.removesuffix('_id').replace('_', ' ')}'s id"
        else:
            schema, description = PATH_PARAMETERS.get(name, (STR, name.replace("_", " ").capitalize()))
        params.append(routes.param(name, schema, description, "path"))
    return params


def component_name(name):
    """A request schema's name in the document: schemas.PLACE_ORDER is PlaceOrderRequest (response schemas
    have names without that suffix, so no two names differ only in case)."""
    return "".join(part.capitalize() for part in name.split("_")) + "Request"


def schema_names():
    """{id(schema): component name} of every request schema in courier/schemas.py."""
    return {
        id(value): component_name(name)
        for name, value in vars(schemas).items()
        if name.isupper() and isinstance(value, dict) and (value.get("type") == "object" or "oneOf" in value)
    }


NO_CONTENT = {
    204: "The order is final and nothing is newer than Last-Event-ID: no stream (EventSource stops)",
    307: "?format=svg (kept for older clients): Location is the SVG route, .../qr.svg",
}

# Response headers of Flask-Limiter (components.headers): Retry-After on every 429, the X-RateLimit-* ones on
# every answer of a route with its own limit (login, change-password, public tracking).
HEADERS = {
    "Retry-After": ("Seconds to wait before trying again", {"type": "integer", "minimum": 0}),
    "X-RateLimit-Limit": ("Requests allowed in the current window", {"type": "integer", "minimum": 0}),
    "X-RateLimit-Remaining": ("Requests left in the current window", {"type": "integer", "minimum": 0}),
    "X-RateLimit-Reset": ("When the window resets, in seconds since the epoch", {"type": "integer"}),
}


def header_ref(name):
    return {"$ref": f"#/components/headers/{name}"}


RATE_LIMIT_HEADERS = {name: header_ref(name) for name in HEADERS if name.startswith("X-")}


def _error(status):
    return {
        "description": ERROR_MEANINGS[status],
        "content": {"application/json": {"schema": ref("Error")}},
    }


def error_statuses(route, params):
    """Every error status the route can give."""
    statuses = set(route.errors) | {429}
    if route.needs_database:
        statuses.add(503)
    if route.roles:
        statuses |= {401, 403}
    if route.body is not None or route.upload:
        statuses |= {400, 413}
    if any(p["in"] == "query" or (p["in"] == "header" and p["name"] != "Authorization") for p in params):
        statuses.add(400)
    if any(p["in"] == "path" for p in params):
        statuses.add(404)
    return sorted(statuses)


def operation(route, names):
    roles = list(route.roles)
    who = "Roles: " + ", ".join(roles) if roles else "No login."
    if route.refresh:
        who += " Send the refresh token (not the access token) as the bearer token."
    params = path_params(route.rule) + [p for q in route.query for p in q.params]
    responses = {}
    for status, content in route.responses.items():
        if content is None:
            responses[str(status)] = {"description": NO_CONTENT.get(status, "No content")}
            continue
        if isinstance(content, str):
            content = {"application/json": {"schema": ref(content)}}
        responses[str(status)] = {"description": "Success", "content": content}
        headers = {name: {"description": text, "schema": STR} for name, text in route.headers.items()}
        if route.rate_limited:
            headers.update(RATE_LIMIT_HEADERS)
        if headers:
            responses[str(status)]["headers"] = headers
    responses.update({str(s): _error(s) for s in error_statuses(route, params)})
    responses["429"]["headers"] = {"Retry-After": header_ref("Retry-After")}
    if route.rate_limited:
        responses["429"]["headers"].update(RATE_LIMIT_HEADERS)
    path = openapi_path(route.rule)
    op = {
        "tags": [route.tag],
        "summary": route.summary,
        "description": who,
        "operationId": operation_id(route.method, path),
        "x-roles": roles,
        "security": [{"bearerAuth": []}] if roles else [],
        "responses": responses,
    }
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": not route.body_optional,
            "content": {"application/json": {"schema": ref(names[id(route.body)])}},
        }
    if route.upload:
        op["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media, schema in route.upload.items()},
        }
    return op


def operation_id(method, path):
    """get /customer/track-order/{order_id} -> get_customer_track_order_order_id."""
    return method.lower() + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_")


# OpenAPI links: what a success answer lets a client (or a stateful test tool) call next, and with what.
# (method, path of the answering operation) -> {link name: (method, path of the next operation, parameters)}.
def _order(expression):
    return {
        "TrackOrder": ("get", "/customer/track-order/{order_id}", {"order_id": expression}),
        "TrackOrderLive": ("get", "/customer/track-order/{order_id}/events", {"order_id": expression}),
        "DeliveryCode": ("get", "/customer/orders/{order_id}/delivery-code", {"order_id": expression}),
        "QrCode": ("get", "/customer/orders/{order_id}/qr", {"order_id": expression}),
        "QrCodeSvg": ("get", "/customer/orders/{order_id}/qr.svg", {"order_id": expression}),
        "CancelOrder": ("post", "/customer/cancel-order/{order_id}", {"order_id": expression}),
    }


def _webhook(expression):
    return {
        "GetWebhook": ("get", "/admin/webhooks/{webhook_id}", {"webhook_id": expression}),
        "TestWebhook": ("post", "/admin/webhooks/{webhook_id}/test", {"webhook_id": expression}),
        "EnableWebhook": ("post", "/admin/webhooks/{webhook_id}/enable", {"webhook_id": expression}),
        "DeleteWebhook": ("delete", "/admin/webhooks/{webhook_id}", {"webhook_id": expression}),
    }


LINKS = {
    ("post", "/signup"): {
        "Login": ("post", "/login", {}, {"email": "$request.body#/email", "password": "$request.body#/password"}),
    },
    ("post", "/customer/place-order"): _order("$response.body#/order/order_id"),
    ("post", "/customer/cancel-order/{order_id}"): {
        "TrackOrder": ("get", "/customer/track-order/{order_id}", {"order_id": "$response.body#/order/order_id"})
    },
    ("get", "/customer/orders/{order_id}/delivery-code"): {
        "QrCode": ("get", "/customer/orders/{order_id}/qr", {"order_id": "$response.body#/order_id"}),
        "PublicTracking": (
            "get", "/track/{tracking_number}", {"tracking_number": "$response.body#/tracking_number"}
        ),
    },
    ("get", "/customer/track-order/{order_id}"): {
        "PublicTracking": (
            "get", "/track/{tracking_number}", {"tracking_number": "$response.body#/order/tracking_number"}
        ),
    },
    ("post", "/register"): {
        "DeleteUser": (
            "delete",
            "/admin/delete-user/{user_type}/{user_id}",
            {"user_type": "$response.body#/user/user_type", "user_id": "$response.body#/user/id"},
        ),
    },
    ("post", "/admin/webhooks"): _webhook("$response.body#/webhook/webhook_id"),
    ("post", "/admin/webhooks/{webhook_id}/test"): {
        "GetNotification": (
            "get",
            "/admin/notifications/{notification_id}",
            {"notification_id": "$response.body#/notification/notification_id"},
        ),
    },
}  # fmt: skip


def links(method, path, known):
    """The links object of an operation's success answer; `known` is every (method, path) documented."""
    found = {}
    for name, (next_method, next_path, parameters, *body) in LINKS.get((method, path), {}).items():
        if (next_method, next_path) not in known:
            raise LookupError(f"link {name} of {method} {path}: no operation {next_method} {next_path}")
        link = {"operationId": operation_id(next_method, next_path)}
        if parameters:
            link["parameters"] = parameters
        if body:
            link["requestBody"] = body[0]
        found[name] = link
    return found


def declared_routes(app):
    """[(rule, Route)] of every route the app serves, in the order they were declared; a route without a
    declaration is an error (every route is declared with courier.routes)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        route = routes.declaration(app, rule.endpoint)
        if route is None:
            raise LookupError(f"{sorted(rule.methods)} {rule.rule} has no courier.routes declaration")
        found.append((rule, route))
    return found


def request_schemas(app):
    """{name in courier/schemas.py: schema} of every request body the app's routes declare (the parts of a
    oneOf included)."""
    names = {id(value): name for name, value in vars(schemas).items() if name.isupper()}
    found = {}
    for _, route in declared_routes(app):
        if route.body is not None:
            for schema in (*route.body.get("oneOf", ()), route.body):
                found[names[id(schema)]] = schema
    return dict(sorted(found.items()))


TAG_DESCRIPTIONS = {
    "Web console": "HTML pages: the console for every role and the public tracking page",
    "Health": "Liveness and readiness (no login)",
    "Documentation": "This document and Swagger UI (no login)",
    "Authentication and accounts": "Sign up, log in, refresh, log out, change password; admins register staff",
    "Admin": "Users, orders, assignment, closing orders, issues and analytics (admins)",
    "Notifications and webhooks": "The notification queue and signed webhook endpoints (admins)",
    "Customer": "Place, follow and cancel your orders, proof of delivery, preferences, feedback (customers)",
    "Customers and delivery persons": "Raise an issue (customers and delivery persons)",
    "Delivery person": "Your assigned orders: status, delivery code, location, history (delivery persons)",
    "Tracking": "Public tracking by tracking number, and its live stream (no login; rate limited)",
}


def build(app, server_url="/"):
    names = schema_names()
    paths = {}
    declared = declared_routes(app)
    for _, route in declared:
        paths.setdefault(openapi_path(route.rule), {})[route.method.lower()] = operation(route, names)
    known = {(method, path) for path, item in paths.items() for method in item}
    for path, item in paths.items():
        for method, op in item.items():
            found = links(method, path, known)
            if found:
                success = next(status for status in op["responses"] if status.startswith("2"))
                op["responses"][success]["links"] = found
    components = {}
    for name, schema in request_schemas(app).items():
        if "oneOf" in schema:
            components[component_name(name)] = {"oneOf": [ref(names[id(part)]) for part in schema["oneOf"]]}
        else:
            components[component_name(name)] = dict(schema)
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
                "Lists take ?limit= (default 20, at most 100) and an opaque ?cursor= from next_cursor. "
                "Query parameters are strict: an empty value (?limit=) or a repeated one is a 400 naming it."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": server_url, "description": "This server"}],
        "tags": [
            {"name": name, "description": TAG_DESCRIPTIONS.get(name, name)}
            for name in dict.fromkeys(route.tag for _, route in declared)
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": {
                name: {"description": text, "schema": schema} for name, (text, schema) in HEADERS.items()
            },
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


def _serialised(app, server_url):
    """The document as JSON text, built once per app and base URL."""
    cache = app.extensions.setdefault("openapi_documents", {})
    if server_url not in cache:
        cache[server_url] = json.dumps(build(app, server_url))
    return cache[server_url]


def document(app=None, server_url="/"):
    """The whole OpenAPI document of the app (default: the current one), as a new dict."""
    return json.loads(_serialised(app or current_app, server_url))


def openapi_response():
    """GET /openapi.json: the document, with this server as its base URL."""
    return Response(_serialised(current_app, request.script_root or "/"), mimetype="application/json")


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
