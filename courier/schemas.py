"""JSON Schemas of every request body: they validate requests and are published in the OpenAPI document."""

from .vocabulary import EVENT_TYPES, FAILURE_REASONS, ISSUE_STATUSES, STATUSES

MAX_ID = 2**53


def text(max_length, nullable=False, **extra):
    schema = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}
    schema.update(extra)
    return schema


def identifier(nullable=False):
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": 1, "maximum": MAX_ID}


# Text that is not blank: a required string made only of white space counts as missing (validation.validate
# strips with str.strip). The class spells out Python's white space, so JSON Schema's (ECMA) regex agrees.
WHITE_SPACE = r"\t\n\v\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITE_SPACE}]"


def _not_blank(schema):
    """A required text field: at least one character that is not white space."""
    types = schema.get("type")
    if "string" not in (types if isinstance(types, list) else [types]):
        return schema
    schema = {**schema, "minLength": max(schema.get("minLength", 0), 1)}
    schema.setdefault("pattern", NOT_BLANK)
    schema.setdefault("x-problem", "must not be blank")
    return schema


def obj(required, *rules, **properties):
    """A closed object: unknown fields are rejected, required text must not be blank. Each rule is a rule
    between fields (see rule()), published in allOf and enforced by validation.validate."""
    for name in required:
        properties[name] = _not_blank(properties[name])
    schema = {
        "type": "object",
        "required": list(required),
        "properties": properties,
        "additionalProperties": False,
    }
    if rules:
        schema["allOf"] = list(rules)
    return schema


def rule(description, fields, message="Missing required fields", **schema):
    """A rule between fields, in JSON Schema; a body that breaks it is a 400 missing_fields with `message`,
    naming `fields` (a dict: field -> what is missing)."""
    return {**schema, "description": description, "x-fields": fields, "x-message": message}


def present(name, schema):
    """The field is there and matches schema (e.g. not null)."""
    return {"required": [name], "properties": {name: schema}}


# No white space (as Python counts it, see WHITE_SPACE), one @, a dot in the domain.
EMAIL = text(
    254,
    pattern=f"^[^@{WHITE_SPACE}]+@[^@{WHITE_SPACE}]+\\.[^@{WHITE_SPACE}]+$",
    **{"x-problem": "must be a valid email address"},
    description=(
        "An email address, stored in one spelling: NFKC, case-folded, trimmed. One holding a control, format"
        " (zero-width, BOM, soft hyphen), surrogate, private-use or unassigned character (Unicode categories"
        " Cc, Cf, Cs, Co, Cn) is refused with 400"
    ),
)
# 8 to 72 bytes in UTF-8 (bcrypt reads 72 bytes; auth.hash_password checks both ends). JSON Schema counts
# characters, not bytes, so the byte limit is spelled by the widest character used: 72 ASCII characters, 36 up
# to U+07FF (2 bytes each), 24 in the rest of the BMP (3 bytes), 18 of any kind (4 bytes); the least is 8 bytes,
# which two 4-byte characters already make: the schema says 2 characters and the description says 8 bytes.
PASSWORD = {
    "type": "string",
    "minLength": 2,
    "maxLength": 72,
    "anyOf": [
        {"pattern": "^[\\u0000-\\u007f]*$"},
        {"maxLength": 36, "pattern": "^[\\u0000-\\u07ff]*$"},
        {"maxLength": 24, "pattern": "^[\\u0000-\\ud7ff\\ue000-\\uffff]*$"},
        {"maxLength": 18},
    ],
    "description": (
        "8 to 72 bytes in UTF-8 (bcrypt's limit; fewer than 8 bytes is 400): up to 72 ASCII characters, "
        "36 if any is beyond ASCII up to U+07FF, 24 if any is beyond that in the BMP, 18 otherwise"
    ),
    "x-problem": "must be 8 to 72 bytes (UTF-8)",
}
PHONE = text(40, nullable=True, pattern=r"^\+?[0-9 ()./-]{3,40}$", **{"x-problem": "must be a phone number"})
LATITUDE = {"type": ["number", "null"], "minimum": -90, "maximum": 90}
LONGITUDE = {"type": ["number", "null"], "minimum": -180, "maximum": 180}
NUMBER = {"type": "number"}

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
    rule(
        "email (customers, delivery persons) or username (admins)",
        {"email": "required (or username)"},
        anyOf=[
            present("email", text(254, pattern=NOT_BLANK)),
            present("username", text(64, pattern=NOT_BLANK)),
        ],
    ),
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
    weight_kg={"type": ["number", "null"], "minimum": 0.001, "maximum": 100000},
    pickup_latitude=LATITUDE,
    pickup_longitude=LONGITUDE,
    delivery_latitude=LATITUDE,
    delivery_longitude=LONGITUDE,
    window_start=text(
        40, nullable=True, minLength=1, format="date-time", description="Delivery window start (ISO 8601)"
    ),
    window_end=text(
        40,
        nullable=True,
        minLength=1,
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
    rule(
        "A Failed Attempt needs a reason",
        {"reason": "required"},
        "reason is required for a failed attempt",
        **{
            "if": present("status", {"const": "Failed Attempt"}),
            "then": present("reason", {"enum": FAILURE_REASONS}),
        },
    ),
    rule(
        "Delivered needs the proof-of-delivery code",
        {"code": "required to set Delivered: scan the customer's QR code"},
        **{
            "if": present("status", {"const": "Delivered"}),
            "then": present("code", text(64, pattern=NOT_BLANK)),
        },
    ),
    order_id=identifier(),
    status={"enum": STATUSES},
    note=text(1000, nullable=True),
    location=text(255, nullable=True),
    reason={"enum": [*FAILURE_REASONS, None]},
    code=text(64, nullable=True, description="The proof-of-delivery code (required to set Delivered)"),
)
UPDATE_LOCATION = obj(
    [],
    rule(
        "latitude and longitude go together",
        {"latitude": "required with the other coordinate", "longitude": "required with the other coordinate"},
        **{"if": present("latitude", NUMBER), "then": present("longitude", NUMBER)},
    ),
    rule(
        "longitude and latitude go together",
        {"latitude": "required with the other coordinate", "longitude": "required with the other coordinate"},
        **{"if": present("longitude", NUMBER), "then": present("latitude", NUMBER)},
    ),
    rule(
        "Coordinates, location text, or both",
        {
            "latitude": "required (with longitude) unless location is given",
            "location": "required without coordinates",
        },
        anyOf=[present("latitude", NUMBER), present("location", text(255, pattern=NOT_BLANK))],
    ),
    latitude=LATITUDE,
    longitude=LONGITUDE,
    location=text(255, nullable=True),
    order_id=identifier(nullable=True),
    recorded_at=text(
        40,
        nullable=True,
        description=(
            "ISO 8601 date-time the device took the point (default: now), as Python's datetime.fromisoformat"
            " reads it; more than 30 s in the future, or a jump from the point before faster than"
            " POSITION_MAX_SPEED_KMH (moves up to 250 m excepted), is 400"
        ),
    ),
)
# A batch of buffered points (courier.positions): each needs coordinates and the time it was taken.
POINT = obj(
    ["latitude", "longitude", "recorded_at"],
    latitude={"type": "number", "minimum": -90, "maximum": 90},
    longitude={"type": "number", "minimum": -180, "maximum": 180},
    recorded_at=text(
        40,
        description=(
            "ISO 8601 date-time the device took the point, as Python's datetime.fromisoformat reads it; more"
            " than 30 s in the future, or a jump faster than POSITION_MAX_SPEED_KMH (moves up to 250 m"
            " excepted), rejects the batch with 400 naming the point"
        ),
    ),
)
LOCATION_BATCH = obj(["points"], points={"type": "array", "minItems": 1, "maxItems": 500, "items": POINT})
RAISE_ISSUE = obj(["message"], message=text(5000), order_id=identifier(nullable=True))
ANSWER_ISSUE = obj(
    ["issue_id"],
    rule(
        "Send a response, a status, or both",
        {"response": "required without status", "status": "required without response"},
        "Send a response, a status, or both",
        anyOf=[
            present("response", text(5000, pattern=NOT_BLANK)),
            present("status", {"enum": ISSUE_STATUSES}),
        ],
    ),
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
PREFERENCES = obj(
    [],
    rule(
        "Send email, sms, or both",
        {"email": "required without sms", "sms": "required without email"},
        "Send email, sms, or both",
        minProperties=1,
    ),
    email={"type": "boolean"},
    sms={"type": "boolean"},
    arriving_soon={"type": "boolean"},
)
CONFIRM_DELIVERY = obj(
    ["order_id", "code"],
    order_id=identifier(),
    code=DELIVERY_CODE,
    note=text(1000, nullable=True),
    location=text(255, nullable=True),
)
OVERRIDE_DELIVERY = obj(["reason"], reason=text(500, minLength=1))
# An http(s) URL: a host name, an IPv4 address or a bracketed IPv6 address, an optional port (0-65535), then
# printable ASCII. Which addresses a webhook may reach is checked after this (courier/webhooks.py).
PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL = rf"^https?://([A-Za-z0-9][A-Za-z0-9._~-]*|\[[0-9A-Fa-f:.]+\])(:{PORT})?([/?#][!-~]*)?$"
WEBHOOK_EVENTS = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": EVENT_TYPES}}
WEBHOOK = obj(
    ["url"],
    rule(
        "events (or its other name event_types), not both",
        {"events": "required (or event_types, not both)"},
        oneOf=[{"required": ["events"]}, {"required": ["event_types"]}],
    ),
    url=text(2000, pattern=URL, **{"x-problem": "must be an http(s) URL"}),
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
