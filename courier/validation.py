"""Request parsing: JSON bodies checked against the JSON Schemas in schemas.py, and query parameters."""

import re
from datetime import UTC, date, datetime

from flask import request
from jsonschema import Draft202012Validator

from .errors import bad_request

_validators = {}
# What the document promises for a moment: a date, or an RFC 3339 date-time (seconds and offset required).
MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2}))?"
)


def _validator(schema):
    key = id(schema)
    if key not in _validators:
        _validators[key] = Draft202012Validator(schema)
    return _validators[key]


def _problem(error):
    """A short, readable description of one jsonschema error."""
    kind, value = error.validator, error.validator_value
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        names = [n for n in names if n != "null"]
        article = "an" if names and names[0][0] in "aeiou" else "a"
        return f"must be {article} {' or '.join(names)}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "maxLength":
        return f"must be at most {value} characters"
    if kind == "minimum":
        return f"must be at least {value}"
    if kind == "maximum":
        return f"must be at most {value}"
    if kind == "exclusiveMinimum":
        return f"must be greater than {value}"
    if kind == "enum":
        return "must be one of: " + ", ".join(str(v) for v in value if v is not None)
    if kind == "pattern":
        return error.schema.get("x-problem", "has an invalid format")
    if kind in ("anyOf", "oneOf") and "x-problem" in error.schema:
        return error.schema["x-problem"]
    return error.message


NOT_AN_OBJECT = {"body": "must be a JSON object"}
BAD_TEXT = "must be valid Unicode text (no lone surrogates)"


def _is_text(value):
    """Whether a string can be stored: JSON's \\ud800-style escapes can smuggle in lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_text(data, path=""):
    """The path of every string (key or value) in a parsed body that is not valid Unicode text."""
    found = {}
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return found
    for key, value in items:
        name = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and not _is_text(key):
            found[name.encode("utf-8", "backslashreplace").decode()] = BAD_TEXT
        elif isinstance(value, str):
            if not _is_text(value):
                found[name] = BAD_TEXT
        else:
            found.update(_bad_text(value, name))
    return found


def validate(schema, data):
    """Check a body against a schema; raise a 400 naming every offending field."""
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object", "invalid_body", NOT_AN_OBJECT)
    fields = _bad_text(data)
    if fields:
        first = sorted(fields)[0]
        message = (
            f"{first} {BAD_TEXT}" if len(fields) == 1 else "Invalid fields: " + ", ".join(sorted(fields))
        )
        raise bad_request(message, "invalid_fields", fields)
    # A blank required string counts as missing, as in the original API.
    for name in schema.get("required", []):
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            fields[name] = "required"
    if fields:
        raise bad_request("Missing required fields", "missing_fields", fields)
    broken = []  # rules between fields (schemas.rule), checked once every field is fine on its own
    for error in _validator(schema).iter_errors(data):
        where = list(error.relative_schema_path)
        if where[:1] == ["allOf"] and "x-fields" in schema["allOf"][where[1]]:
            broken.append(schema["allOf"][where[1]])
            continue
        if error.validator == "additionalProperties":
            # Nested objects too (e.g. points.3.speed): the path names where the unknown field is.
            allowed = set(error.schema.get("properties", {}))
            prefix = "".join(f"{p}." for p in error.absolute_path)
            for name in error.instance:
                if name not in allowed:
                    fields[f"{prefix}{name}"] = "unknown field"
            continue
        name = ".".join(str(p) for p in error.absolute_path) or "body"
        fields.setdefault(name, _problem(error))
    if fields:
        if len(fields) == 1:
            name, problem = next(iter(fields.items()))
            message = f"Unknown field: {name}" if problem == "unknown field" else f"{name} {problem}"
        else:
            message = "Invalid fields: " + ", ".join(sorted(fields))
        raise bad_request(message, "invalid_fields", fields)
    if broken:
        raise bad_request(
            broken[0]["x-message"],
            "missing_fields",
            {name: problem for r in broken for name, problem in r["x-fields"].items()},
        )
    return data


def json_body(schema):
    """The request's JSON body, validated; a body that is not JSON gets 400."""
    data = request.get_json(silent=True)
    if data is None:
        raise bad_request("Request body must be a JSON object", "invalid_body", NOT_AN_OBJECT)
    return validate(schema, data)


def optional_json_body(schema):
    """Like json_body, for routes whose body may be left out entirely ({} then)."""
    # A chunked body has no Content-Length: look at the body itself, so it is validated like any other.
    if not request.content_length and not request.get_data(cache=True):
        return {}
    return json_body(schema)


def clean(value):
    """Strip a string and turn a blank one into None."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def strict_query(names):
    """Each of these query parameters at most once and never empty: ?limit= or ?status=a&status=b is a 400
    naming the parameter (an empty value is not read as absent, nor a repeated one as its first value)."""
    for name in names:
        values = request.args.getlist(name)
        if len(values) > 1:
            problem = "must be given at most once"
            raise bad_request(f"{name} {problem}", "invalid_query", {name: problem})
        if values and values[0] == "":
            problem = "must not be empty (leave the parameter out instead)"
            raise bad_request(f"{name} {problem}", "invalid_query", {name: problem})


def int_arg(name, minimum=1):
    """An optional integer query parameter."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(
            f"{name} must be an integer", "invalid_query", {name: "must be an integer"}
        ) from None
    if value < minimum or value > 2**53:
        raise bad_request(f"{name} is out of range", "invalid_query", {name: "out of range"})
    return value


def choice_arg(name, choices):
    """An optional query parameter that must be one of the given values."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        problem = "must be one of: " + ", ".join(choices)
        raise bad_request(f"{name} {problem}", "invalid_query", {name: problem})
    return raw


def datetime_arg(name, end_of_day=False):
    """An optional ISO 8601 date or date-time query parameter, as naive UTC."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        if not MOMENT.fullmatch(raw):
            raise ValueError
        raw = raw.upper()
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            value = datetime(day.year, day.month, day.day)
            if end_of_day:
                value = value.replace(hour=23, minute=59, second=59, microsecond=999999)
            return value
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # OverflowError: e.g. 0001-01-01T00:00+05:00 in UTC is before year 1
        problem = "must be an ISO 8601 date or date-time"
        raise bad_request(f"{name} {problem}", "invalid_query", {name: problem}) from None
    return value
