"""JSON Schemas of every request body: they validate requests and are published in the OpenAPI document."""

from .vocabulary import EVENT_TYPES, FAILURE_REASONS, ISSUE_STATUSES, STATUSES

MAX_ID = 2**53


def text(max_length, nullable=False, **extra):
    schema = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}
    schema.update(extra)
    return schema


def identifier(nullable=False):
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": 1, "maximum": MAX_ID}


def obj(required, **properties):
    """A closed object: unknown fields are rejected."""
    return {
        "type": "object",
        "required": list(required),
        "properties": properties,
        "additionalProperties": False,
    }


EMAIL = text(254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", **{"x-problem": "must be a valid email address"})
# 8 to 72 bytes in UTF-8 (checked in auth.hash_password); in characters that is at least 2 and at most 72.
PASSWORD = {"type": "string", "minLength": 2, "maxLength": 72, "description": "8 to 72 bytes (UTF-8)"}
PHONE = text(40, nullable=True, pattern=r"^\+?[0-9 ()./-]{3,40}$", **{"x-problem": "must be a phone number"})
LATITUDE = {"type": ["number", "null"], "minimum": -90, "maximum": 90}
LONGITUDE = {"type": ["number", "null"], "minimum": -180, "maximum": 180}

SIGNUP = obj(
    ["name", "email", "password", "address"],
    name=text(200),
    email=EMAIL,
    password=PASSWORD,
    address=text(500),
    phone=PHONE,
)
LOGIN = obj(
    ["password"],
    email=text(254, nullable=True),
    username=text(64, nullable=True),
    password={"type": "string", "maxLength": 1024},
)
REGISTER_COURIER = obj(
    ["user_type", "name", "email", "password"],
    user_type={"enum": ["delivery_person"]},
    name=text(200),
    email=EMAIL,
    password=PASSWORD,
    phone=PHONE,
)
REGISTER_ADMIN = obj(
    ["user_type", "username", "password"],
    user_type={"enum": ["admin"]},
    username=text(
        64, pattern=r"^[A-Za-z0-9_.@-]{3,64}$", **{"x-problem": "must be 3-64 letters, digits or _.@-"}
    ),
    password=PASSWORD,
)
# POST /register takes either shape; its handler picks one by user_type.
REGISTER = {"oneOf": [REGISTER_COURIER, REGISTER_ADMIN]}
PLACE_ORDER = obj(
    ["delivery_address", "recipient_name"],
    delivery_address=text(500),
    recipient_name=text(200),
    pickup_address=text(500, nullable=True),
    recipient_phone=PHONE,
    description=text(1000, nullable=True),
    # The column keeps 3 decimals: anything under 1 g would be stored as 0, which the database refuses.
    weight_kg={"type": ["number", "null"], "exclusiveMinimum": 0, "minimum": 0.001, "maximum": 100000},
    pickup_latitude=LATITUDE,
    pickup_longitude=LONGITUDE,
    delivery_latitude=LATITUDE,
    delivery_longitude=LONGITUDE,
    window_start=text(40, nullable=True, format="date-time", description="Delivery window start (ISO 8601)"),
    window_end=text(
        40,
        nullable=True,
        format="date-time",
        description="Delivery window end (ISO 8601): after the start, in the future",
    ),
)
ASSIGN = obj(
    ["order_id", "delivery_person_id"],
    order_id=identifier(),
    delivery_person_id=identifier(),
    reassign={"type": "boolean"},
)
CANCEL = obj([], reason=text(500, nullable=True))
UPDATE_STATUS = obj(
    ["order_id", "status"],
    order_id=identifier(),
    status={"enum": STATUSES},
    note=text(1000, nullable=True),
    location=text(255, nullable=True),
    reason={"enum": [*FAILURE_REASONS, None]},
    code=text(64, nullable=True, description="The proof-of-delivery code (required to set Delivered)"),
)
UPDATE_LOCATION = obj(
    [],
    latitude=LATITUDE,
    longitude=LONGITUDE,
    location=text(255, nullable=True),
    order_id=identifier(nullable=True),
    recorded_at=text(
        40, nullable=True, description="ISO 8601 date-time the device took the point (default: now)"
    ),
)
# A batch of buffered points (courier.positions): each needs coordinates and the time it was taken.
POINT = obj(
    ["latitude", "longitude", "recorded_at"],
    latitude={"type": "number", "minimum": -90, "maximum": 90},
    longitude={"type": "number", "minimum": -180, "maximum": 180},
    recorded_at=text(40, description="ISO 8601 date-time the device took the point"),
)
LOCATION_BATCH = obj(["points"], points={"type": "array", "minItems": 1, "maxItems": 500, "items": POINT})
RAISE_ISSUE = obj(["message"], message=text(5000), order_id=identifier(nullable=True))
ANSWER_ISSUE = obj(
    ["issue_id"],
    issue_id=identifier(),
    response=text(5000, nullable=True),
    status={"enum": [*ISSUE_STATUSES, None]},
)
FEEDBACK = obj(
    ["order_id", "feedback"],
    order_id=identifier(),
    feedback=text(2000),
    rating={"type": ["integer", "null"], "minimum": 1, "maximum": 5},
)
CHANGE_PASSWORD = obj(
    ["old_password", "new_password"],
    old_password={"type": "string", "maxLength": 1024},
    new_password=PASSWORD,
)
LOGOUT = obj([], refresh_token={"type": ["string", "null"], "maxLength": 4096})

DELIVERY_CODE = text(64, minLength=1, description="The proof-of-delivery code, as scanned from the QR code")
PREFERENCES = obj([], email={"type": "boolean"}, sms={"type": "boolean"})
CONFIRM_DELIVERY = obj(
    ["order_id", "code"],
    order_id=identifier(),
    code=DELIVERY_CODE,
    note=text(1000, nullable=True),
    location=text(255, nullable=True),
)
OVERRIDE_DELIVERY = obj(["reason"], reason=text(500, minLength=1))
WEBHOOK_EVENTS = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": EVENT_TYPES}}
WEBHOOK = obj(
    ["url"],
    url=text(2000, pattern=r"^https?://[^\s/$.?#][^\s]*$", **{"x-problem": "must be an http(s) URL"}),
    events={**WEBHOOK_EVENTS, "description": "The event types to receive (required)"},
    event_types={**WEBHOOK_EVENTS, "description": "Another name for events"},
    description=text(500, nullable=True),
)

# Issue 17: shipping labels
LABELS = obj(
    ["order_ids"],
    order_ids={
        "type": "array",
        "minItems": 1,
        "maxItems": 500,
        "uniqueItems": True,
        "items": identifier(),
        "description": "The orders to print, one 4x6 inch label per page, in this order (at most 500)",
    },
)

# Dispatch: plans, courier settings and shifts
ID_LIST = {"type": "array", "items": identifier(), "maxItems": 5000}
PLAN = obj(
    [],
    order_ids={**ID_LIST, "description": "Pending orders to plan (default: every Pending order)"},
    courier_ids={**ID_LIST, "description": "On-shift couriers to plan for (default: every on-shift courier)"},
    start_at=text(40, nullable=True, format="date-time", description="When the routes start (default: now)"),
)
CLOCK_TIME = text(
    8, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", **{"x-problem": "must be HH:MM (UTC)"}
)
COURIER_SETTINGS = obj(
    [],
    capacity_kg={"type": "number", "exclusiveMinimum": 0, "maximum": 100000},
    capacity_parcels={"type": "integer", "minimum": 1, "maximum": 10000},
    depot_latitude=LATITUDE,
    depot_longitude=LONGITUDE,
    shift_start=CLOCK_TIME,
    shift_end=CLOCK_TIME,
)
