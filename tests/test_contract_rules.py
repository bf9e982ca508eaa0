"""The document states the rules the server enforces (and the server enforces no rule the document hides):
rules between fields, non-blank text, passwords, query parameter formats, strict query parameters, streams,
media types, rate-limit headers and links."""

import pytest
from helpers import assert_error
from jsonschema import Draft202012Validator

from courier import openapi, schemas


@pytest.fixture
def doc(app):
    return openapi.document(app)


def body_schema(doc, path, method):
    ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_component_names_are_unique_ignoring_case(doc):
    names = [name.lower() for name in doc["components"]["schemas"]]
    assert len(names) == len(set(names))
    assert "PlaceOrderRequest" in doc["components"]["schemas"]


# (path, method, token, body): the document's verdict on each body must be the server's.
BODIES = [
    ("/delivery/update-location", "patch", "dave", {"latitude": 1.0}),
    ("/delivery/update-location", "patch", "dave", {"longitude": 1.0, "location": "Here"}),
    ("/delivery/update-location", "patch", "dave", {"location": "   "}),
    ("/delivery/update-location", "patch", "dave", {}),
    ("/delivery/update-location", "patch", "dave", {"latitude": None, "longitude": None, "location": None}),
    ("/delivery/update-status", "patch", "dave", {"order_id": 1, "status": "Failed Attempt"}),
    ("/delivery/update-status", "patch", "dave", {"order_id": 1, "status": "Failed Attempt", "reason": None}),
    ("/delivery/update-status", "patch", "dave", {"order_id": 1, "status": "Delivered"}),
    ("/delivery/update-status", "patch", "dave", {"order_id": 1, "status": "Delivered", "code": " "}),
    ("/customer/preferences", "patch", "alice", {}),
    ("/admin/issues", "patch", "admin", {"issue_id": 1}),
    ("/admin/issues", "patch", "admin", {"issue_id": 1, "response": "  "}),
    ("/admin/webhooks", "post", "admin", {"url": "https://example.com/h"}),
    ("/login", "post", None, {"password": "secret-password"}),
    ("/login", "post", None, {"email": " ", "password": "secret-password"}),
    ("/signup", "post", None, {"name": " ", "email": "a@b.co", "password": "12345678", "address": "x"}),
    ("/signup", "post", None, {"name": "Al", "email": "a@b.co", "password": "x", "address": "x"}),
    ("/signup", "post", None, {"name": "Al", "email": "a@b.co", "password": " " * 8, "address": "x"}),
    ("/raise-issue", "post", "alice", {"message": "   "}),
    ("/admin/override-delivery/1", "post", "admin", {"reason": "  "}),
]


@pytest.mark.parametrize(("path", "method", "who", "body"), BODIES)
def test_bodies_the_document_rejects_are_400(app, client, world, doc, path, method, who, body):
    template = path if path in doc["paths"] else path.rsplit("/", 1)[0] + "/{order_id}"
    errors = list(Draft202012Validator(body_schema(doc, template, method)).iter_errors(body))
    assert errors, "the document accepts this body"
    headers = getattr(world, who).headers if who else {}
    response = client.open(path, method=method.upper(), json=body, headers=headers)
    result = assert_error(response, 400)
    assert result["code"] in ("missing_fields", "invalid_fields")


def test_rules_between_fields_name_the_fields(client, world):
    response = client.patch("/delivery/update-location", json={"latitude": 1.0}, headers=world.dave.headers)
    assert (
        assert_error(response, 400, "missing_fields")["fields"]["longitude"]
        == "required with the other coordinate"
    )
    response = client.patch("/customer/preferences", json={}, headers=world.alice.headers)
    assert assert_error(response, 400, "missing_fields")["error"] == "Send email, sms, or both"


def test_required_text_and_passwords_are_stated(doc):
    signup = body_schema(doc, "/signup", "post")
    assert signup["properties"]["name"]["pattern"] == schemas.NOT_BLANK
    assert signup["properties"]["name"]["minLength"] == 1
    password = signup["properties"]["password"]
    # 8 to 72 bytes: two 4-byte characters are already 8 bytes, so the schema's least is 2 characters.
    assert (password["minLength"], password["maxLength"]) == (2, 72)
    assert "8 to 72 bytes" in password["description"]
    location = body_schema(doc, "/delivery/update-location", "patch")
    assert any("anyOf" in rule for rule in location["allOf"])
    assert body_schema(doc, "/customer/preferences", "patch")["allOf"][0]["minProperties"] == 1


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("limit=", "limit"),
        ("status=", "status"),
        ("cursor=", "cursor"),
        ("status=Pending&status=Assigned", "status"),
        ("limit=5&limit=6", "limit"),
        ("created_from=2026-01-01&created_from=2026-01-02", "created_from"),
    ],
)
def test_empty_or_repeated_query_parameters_are_400_naming_them(client, world, query, name):
    response = client.get(f"/admin/orders?{query}", headers=world.admin.headers)
    assert name in assert_error(response, 400, "invalid_query")["fields"]


@pytest.mark.parametrize(
    "value",
    ["2026-01-31T12:00", "2026-01-31 12:00:00Z", "31/01/2026", "2026-1-31", "２０２６-01-31", "20260131"],
)
def test_moments_are_a_date_or_an_rfc3339_date_time(client, world, value):
    response = client.get("/admin/orders", query_string={"created_from": value}, headers=world.admin.headers)
    assert "created_from" in assert_error(response, 400, "invalid_query")["fields"]


@pytest.mark.parametrize("value", ["2026-01-31", "2026-01-31T12:00:00Z", "2026-01-31t12:00:00.5+01:00"])
def test_moments_the_document_allows_are_accepted(client, world, value):
    response = client.get("/admin/orders", query_string={"created_from": value}, headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("cursor", ["abc=", "a b", "a+b/c", "x" * 1001])
def test_cursors_outside_the_pattern_are_400(client, world, cursor):
    response = client.get("/admin/orders", query_string={"cursor": cursor}, headers=world.admin.headers)
    assert "cursor" in assert_error(response, 400)["fields"]


def test_limit_is_digits_only(client, world):
    for value in ["²", "٣", "+5", "1e1"]:
        response = client.get("/admin/orders", query_string={"limit": value}, headers=world.admin.headers)
        assert "limit" in assert_error(response, 400, "invalid_query")["fields"], value


def test_streams_document_their_204_and_images_one_media_type_each(doc):
    for path in ("/track/{tracking_number}/events", "/customer/track-order/{order_id}/events"):
        responses = doc["paths"][path]["get"]["responses"]
        assert list(responses["200"]["content"]) == ["text/event-stream"]
        assert "content" not in responses["204"]
    assert list(doc["paths"]["/customer/orders/{order_id}/qr"]["get"]["responses"]["200"]["content"]) == [
        "image/png"
    ]
    svg = doc["paths"]["/customer/orders/{order_id}/qr.svg"]["get"]["responses"]["200"]["content"]
    assert list(svg) == ["image/svg+xml"]


def test_rate_limit_headers_are_declared_sent_and_exposed(client, doc):
    login = doc["paths"]["/login"]["post"]["responses"]
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(login["200"]["headers"])
    for item in doc["paths"].values():
        for op in item.values():
            assert "Retry-After" in op["responses"]["429"]["headers"]
    assert set(doc["components"]["headers"]) >= {"Retry-After", "X-RateLimit-Remaining"}
    response = client.post(
        "/login",
        json={"email": "nobody@example.com", "password": "wrong-password"},
        headers={"Origin": "https://app.example.com"},
    )
    assert response.status_code == 401 and "X-RateLimit-Remaining" in response.headers
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= exposed


def test_links_lead_to_operations_and_their_parameters(doc):
    operations = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}
    found = 0
    for item in doc["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                for name, link in response.get("links", {}).items():
                    target = operations[link["operationId"]]
                    names = {p["name"] for p in target.get("parameters", [])}
                    assert set(link.get("parameters", {})) <= names, name
                    found += 1
    assert found >= 10
    place = doc["paths"]["/customer/place-order"]["post"]["responses"]["201"]["links"]
    assert place["TrackOrder"] == {
        "operationId": "get_customer_track_order_order_id",
        "parameters": {"order_id": "$response.body#/order/order_id"},
    }
    assert (
        doc["paths"]["/signup"]["post"]["responses"]["201"]["links"]["Login"]["operationId"] == "post_login"
    )
