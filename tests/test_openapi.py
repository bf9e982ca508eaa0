"""The API contract: the OpenAPI document matches the registered routes, is valid, is built from the very
schemas that validate requests, documents the roles each route allows, and every error has one shape."""

import re
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from openapi_spec_validator import validate

from courier import openapi, pagination, schemas

IGNORED_METHODS = {"HEAD", "OPTIONS"}
# Component name in the document -> name in courier/schemas.py (PlaceOrderRequest -> PLACE_ORDER).
SCHEMA_NAMES = {openapi.component_name(name): name for name in vars(schemas) if name.isupper()}
ERROR_KEYS = {"error", "code"}


def registered(app):
    """{(method, openapi path)} of every route the app serves (Flask's <int:x> becomes {x})."""
    ops = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        ops |= {(method.lower(), path) for method in rule.methods - IGNORED_METHODS}
    return ops


def documented(doc):
    return {(method, path) for path, item in doc["paths"].items() for method in item}


def test_the_document_is_every_registered_route(app):
    """Generated from the url_map: every route the app serves is in it, and nothing else."""
    assert documented(openapi.document(app)) == registered(app)


def test_a_route_without_a_declaration_cannot_be_documented(app):
    """Every route is declared with courier.routes: a bare Flask route stops the document being built."""
    app.add_url_rule("/extra/<int:thing_id>", "extra", lambda thing_id: "", methods=["PUT"])
    with pytest.raises(LookupError, match="/extra/<int:thing_id>"):
        openapi.build(app)


def test_served_document_is_valid_openapi_3_1(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    validate(doc)  # raises on any error against the OpenAPI 3.1 meta-schema
    assert doc["openapi"].startswith("3.1")
    # The default dialect of OpenAPI 3.1 is JSON Schema 2020-12 (with OpenAPI's vocabulary): what jsonschema checks.
    assert "jsonSchemaDialect" not in doc
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc == openapi.document(client.application)


def test_request_bodies_are_the_validating_schemas(app):
    """Each request body in the document is the very schema its route's declaration validates with."""
    components = openapi.document(app)["components"]["schemas"]
    bodies = openapi.request_schemas(app)
    assert len(bodies) >= 12
    for name, schema in bodies.items():
        assert schema is getattr(schemas, name)
        if "oneOf" in schema:
            continue  # see test_register_body_is_one_of_the_two_account_schemas
        assert components[openapi.component_name(name)] == schema
        assert schema["additionalProperties"] is False  # unknown fields are rejected


def test_every_operation_documents_its_responses_and_roles(app):
    doc = openapi.document(app)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            statuses = set(op["responses"])
            assert any(s.startswith("2") for s in statuses), (method, path)
            assert {"429"} <= statuses
            for status, response in op["responses"].items():
                if not status.startswith(("2", "3")):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }
            if op["x-roles"]:
                assert {"401", "403"} <= statuses and op["security"] == [{"bearerAuth": []}]
                assert "Roles: " + ", ".join(op["x-roles"]) in op["description"]
            else:
                assert op["security"] == [] and "No login" in op["description"]
            if "requestBody" in op:
                assert {"400", "413"} <= statuses
            if any(p["in"] == "path" for p in op.get("parameters", [])):
                assert "404" in statuses


PATH_VALUES = {
    "{user_type}": "customer",
    "{filename}": "index.css",
    "{tracking_number}": "CTNOSUCHNUMBER0000",
}


def fill(path):
    """A concrete URL for a documented path (every other {parameter} is an id)."""
    for name, value in PATH_VALUES.items():
        path = path.replace(name, value)
    return re.sub(r"\{[a-z_]+_id\}", "999999", path)


def required_fields_probe(schema):
    """A body that must fail validation, and the fields the 400 must name."""
    if schema.get("required"):
        return {}, {name: "required" for name in schema["required"]}
    return {"zz_not_a_field": 1}, {"zz_not_a_field": "unknown field"}


def test_routes_validate_with_their_documented_body_schema(app, client, world):
    """Each route's answer to a bad body names the fields its documented schema requires (or rejects)."""
    tokens = {"admin": world.admin, "customer": world.alice, "delivery_person": world.dave}
    serving = registered(app)
    checked = 0
    for path, item in openapi.document(app)["paths"].items():
        for method, op in item.items():
            name = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            name = SCHEMA_NAMES.get(name.get("$ref", "").rsplit("/", 1)[-1])
            if not name or (method, path) not in serving:
                continue
            if "oneOf" in getattr(schemas, name):  # the body's user_type picks the schema
                body, fields = {}, {"user_type": "required"}
            else:
                body, fields = required_fields_probe(getattr(schemas, name))
            headers = tokens[op["x-roles"][0]].headers if op["x-roles"] else {}
            response = client.open(fill(path), method=method.upper(), json=body, headers=headers)
            assert response.status_code == 400, (method, path, response.get_json())
            assert response.get_json()["fields"] == fields, (method, path)
            checked += 1
    assert checked >= 12


def test_register_body_is_one_of_the_two_account_schemas(app):
    doc = openapi.document(app)
    body = doc["paths"]["/register"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RegisterRequest"}
    assert doc["components"]["schemas"]["RegisterRequest"] == {
        "oneOf": [
            {"$ref": "#/components/schemas/RegisterCourierRequest"},
            {"$ref": "#/components/schemas/RegisterAdminRequest"},
        ]
    }


def test_list_parameters_follow_the_pagination_rules(app):
    doc = openapi.document(app)
    lists = ["/admin/users", "/admin/orders", "/admin/issues", "/customer/orders", "/delivery/assigned-orders",
             "/delivery/history"]  # fmt: skip
    for path in lists:
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
        assert params["cursor"]["schema"]["pattern"] == pagination.CURSOR_PATTERN
        assert params["sort"]["schema"]["enum"]
        page = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert set(doc["components"]["schemas"][page.rsplit("/", 1)[-1]]["required"]) >= {"next_cursor"}
    orders = {p["name"] for p in doc["paths"]["/admin/orders"]["get"]["parameters"]}
    assert orders >= {"status", "customer_id", "assigned_to", "created_from", "created_to"}


def test_swagger_ui_is_served_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]  # no CDN could load anyway
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 5
    assert "http://" not in html and "https://" not in html and "//" not in "".join(assets)
    for asset in assets:
        with client.get(asset) as response:
            assert response.status_code == 200, asset
            assert len(response.get_data()) > 0
    script = client.get("/docs/swagger-initializer.js").get_data(as_text=True)
    assert '"/openapi.json"' in script and "SwaggerUIBundle(" in script
    with client.get("/docs/swagger-ui-bundle.js") as response:
        bundle = response.get_data(as_text=True)
    assert "OpenAPI" in bundle and len(bundle) > 500_000


@pytest.mark.parametrize("name", ["../app1.py", "nope.js", "swagger-ui.js.map", "..%2Fapp1.py"])
def test_docs_assets_outside_swagger_ui_are_404(client, name):
    response = client.get(f"/docs/{name}")
    assert response.status_code == 404
    assert set(response.get_json()) == ERROR_KEYS


def assert_error(response, status, code=None):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) <= {"error", "code", "fields", "allowed", "current_status", "order_ids", "assigned_to"}
    assert isinstance(body["error"], str) and body["error"]
    assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", body["code"]), body["code"]
    if code:
        assert body["code"] == code
    return body


def test_jwt_errors_have_the_one_shape(app, client, world):
    assert_error(client.get("/admin/users"), 401, "missing_token")
    assert_error(client.get("/admin/users", headers={"Authorization": "Basic abc"}), 401, "missing_token")
    assert_error(
        client.get("/admin/users", headers={"Authorization": "Bearer not.a.jwt"}), 401, "invalid_token"
    )
    with app.app_context():
        expired = create_access_token(
            identity=str(world.admin.id), additional_claims={"role": "admin", "sid": "x"},
            expires_delta=timedelta(seconds=-10),
        )  # fmt: skip
        unknown_session = create_access_token(
            identity="1", additional_claims={"role": "admin", "sid": "gone"}
        )
    assert_error(client.get("/admin/users", headers={"Authorization": f"Bearer {expired}"}), 401)
    assert_error(client.get("/admin/users", headers={"Authorization": f"Bearer {unknown_session}"}), 401)
    assert_error(client.get("/admin/users", headers=world.alice.headers), 403, "wrong_role")
    assert_error(client.get("/delivery/history", headers=world.admin.headers), 403, "wrong_role")


def test_flask_errors_have_the_one_shape(client, world):
    assert_error(client.get("/no/such/route"), 404, "not_found")
    response = client.put("/login", json={})
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    big = {"name": "x" * (1024 * 1024 + 10)}
    assert_error(client.post("/signup", json=big), 413, "body_too_large")
    assert_error(client.post("/customer/place-order", json=big, headers=world.alice.headers), 413)


def test_validation_errors_have_the_one_shape_with_fields(client, world, sql):
    body = assert_error(client.post("/signup", data="{not json", content_type="application/json"), 400)
    body = assert_error(client.post("/signup", json={"email": "a@b.co"}), 400, "missing_fields")
    assert body["fields"] == {"name": "required", "password": "required", "address": "required"}
    response = client.post(
        "/customer/place-order",
        json={"delivery_address": "x", "recipient_name": "y", "colour": "red"},
        headers=world.alice.headers,
    )
    body = assert_error(response, 400, "invalid_fields")
    assert body["fields"] == {"colour": "unknown field"}
    assert sql("SELECT COUNT(*) AS n FROM orders", one=True)["n"] == 0
    body = assert_error(
        client.get("/admin/orders?limit=101", headers=world.admin.headers), 400, "invalid_query"
    )
    assert body["fields"] == {"limit": "must be a whole number from 1 to 100"}
    assert_error(client.post("/admin/assign-delivery", json={"order_id": 999, "delivery_person_id": world.dave.id},
                             headers=world.admin.headers), 404, "order_not_found")  # fmt: skip


def test_postman_collection_is_generated_from_the_document(app):
    """docs/postman_collection.json is what `make postman` makes now (regenerate it after changing routes)."""
    from pathlib import Path

    from tools import postman

    committed = Path(__file__).resolve().parent.parent / "docs" / "postman_collection.json"
    assert committed.read_text(encoding="utf-8") == postman.render(), "run `make postman`"
    collection = postman.collection()
    items = [item for folder in collection["item"] for item in folder["item"]]
    # Every operation of the document is called at least once by the run.
    called = {tuple(item["name"].split(" - ")[0].lower().split(" ", 1)) for item in items}
    assert called == documented(openapi.document(app))
    variables = {v["key"] for v in collection["variable"]}
    assert {"baseUrl", "adminUsername", "adminPassword", "customerEmail", "customerPassword"} <= variables
    for item in items:
        script = "\n".join(item["event"][0]["script"]["exec"])
        assert "pm.response.to.have.status(" in script, item["name"]  # every request asserts its status...
        assert "jsonSchema(schema)" in script or "content type is" in script, item["name"]  # ...and its body
        assert "delete-user/customer" not in item["request"]["url"]["raw"]  # never a demo account
