"""`make postman`: a Postman collection (v2.1) generated from the OpenAPI document, one folder per tag.

    python -m tools.postman docs/postman_collection.json

Variables: baseUrl, token (set by the Login request's test script), refreshToken. Each request carries an
example body made from its request schema (required fields, or every field when none is required).
"""

import json
import sys
from pathlib import Path

from app1 import create_app
from courier import openapi

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
SAMPLE_STRINGS = {
    "email": "alice@example.com",
    "password": "customer123",
    "old_password": "customer123",
    "new_password": "a-new-password",
    "username": "admin",
    "phone": "+1 555 0100",
    "recipient_phone": "+1 555 0100",
    "refresh_token": "{{refreshToken}}",
}
SAMPLE_NUMBERS = {"latitude": 40.7128, "longitude": -74.006, "weight_kg": 1.5, "rating": 5}
LOGIN_SCRIPT = [
    "const body = pm.response.json();",
    "if (body.token) { pm.collectionVariables.set('token', body.token); }",
    "if (body.refresh_token) { pm.collectionVariables.set('refreshToken', body.refresh_token); }",
]


def sample(name, schema):
    """An example value for one field of a request schema."""
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    types = schema.get("type", "string")
    kind = next(t for t in (types if isinstance(types, list) else [types]) if t != "null")
    if kind == "integer":
        return SAMPLE_NUMBERS.get(name, 1)
    if kind == "number":
        return SAMPLE_NUMBERS.get(name, 1.5)
    if kind == "boolean":
        return False
    return SAMPLE_STRINGS.get(name, name.replace("_", " ").capitalize())


def example_body(schemas, name):
    schema = schemas[name]
    if "oneOf" in schema:  # a body of either shape: the example takes the first
        schema = schemas[schema["oneOf"][0]["$ref"].rsplit("/", 1)[-1]]
    fields = schema.get("required") or list(schema["properties"])
    return {field: sample(field, schema["properties"][field]) for field in fields}


def request_item(path, method, op, schemas):
    segments = [f":{part[1:-1]}" if part.startswith("{") else part for part in path.strip("/").split("/")]
    url = {
        "raw": "{{baseUrl}}/" + "/".join(segments),
        "host": ["{{baseUrl}}"],
        "path": segments,
    }
    params = op.get("parameters", [])
    query = [p for p in params if p["in"] == "query"]
    if query:
        url["query"] = [
            {"key": p["name"], "value": str(p["schema"].get("default", "")), "description": p["description"],
             "disabled": True}
            for p in query
        ]  # fmt: skip
        url["raw"] += "?" + "&".join(f"{p['name']}=" for p in query)
    variables = [p for p in params if p["in"] == "path"]
    if variables:
        url["variable"] = [
            {"key": p["name"], "value": "customer" if p["name"] == "user_type" else "1",
             "description": p["description"]}
            for p in variables
        ]  # fmt: skip
    headers = [
        {"key": p["name"], "value": "", "description": p["description"], "disabled": True}
        for p in params
        if p["in"] == "header"
    ]
    request = {"method": method.upper(), "header": headers, "url": url, "description": op["description"]}
    if not op["x-roles"]:
        request["auth"] = {"type": "noauth"}
    elif "refresh token" in op["description"]:
        request["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": "{{refreshToken}}"}]}
    body = op.get("requestBody")
    if body and "multipart/form-data" in body["content"]:
        # File uploads (proof photos and signatures, CSV imports): one form field per property, files as files.
        fields = body["content"]["multipart/form-data"]["schema"]["properties"]
        request["body"] = {
            "mode": "formdata",
            "formdata": [
                {"key": name, "type": "file", "src": []}
                if schema.get("format") == "binary"
                else {"key": name, "type": "text", "value": str(schema.get("default", ""))}
                for name, schema in fields.items()
            ],
        }
    elif body:
        ref = body["content"]["application/json"]["schema"].get("$ref", "")
        example = example_body(schemas, ref.rsplit("/", 1)[-1]) if ref else {}
        headers.append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(example, indent=2),
            "options": {"raw": {"language": "json"}},
        }
    item = {"name": f"{method.upper()} {path} - {op['summary']}", "request": request}
    if path == "/login":
        item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": LOGIN_SCRIPT}}]
    return item


def collection(doc=None):
    """The Postman collection for the document."""
    doc = doc or openapi.document(create_app({"TESTING": True}))
    schemas = doc["components"]["schemas"]
    folders = {tag["name"]: [] for tag in doc["tags"]}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            folders[op["tags"][0]].append(request_item(path, method, op, schemas))
    return {
        "info": {
            "name": doc["info"]["title"],
            "description": doc["info"]["description"]
            + "\n\nGenerated from /openapi.json by `make postman`; do not edit by hand.",
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}"}]},
        "variable": [
            {"key": "baseUrl", "value": "http://127.0.0.1:5000"},
            {"key": "token", "value": ""},
            {"key": "refreshToken", "value": ""},
        ],
        "item": [{"name": name, "item": items} for name, items in folders.items() if items],
    }


def render():
    return json.dumps(collection(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    target = Path(argv[1] if len(argv) > 1 else "docs/postman_collection.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv)
