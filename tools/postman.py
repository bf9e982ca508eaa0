"""`make postman`: a Postman collection (v2.1) generated from the OpenAPI document, as a run that works.

    python -m tools.postman docs/postman_collection.json

The collection is a scenario on the demo database (seed.sql), in order: it logs in as each role from the
collection variables (adminUsername/adminPassword, customerEmail/customerPassword, courierEmail/
courierPassword), then calls every operation of the document at least once, carrying ids from one answer to
the next (a new order is placed, assigned, carried and delivered with its code; the accounts, orders, issues
and webhooks it changes or deletes are ones the run itself created, never a demo account). Every request has
`pm.test` assertions: the status, and the body against the operation's documented response schema (or its
content type). The live streams are called on a delivered order, so they send its history and end at once.

Run it with newman (tools/contract.py does, on a fresh demo server): `newman run docs/postman_collection.json
--env-var baseUrl=http://127.0.0.1:5000`. Each request's name is the operation; its folder is the step.
"""

import json
import sys
from pathlib import Path

from app1 import create_app
from courier import openapi

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
ADMIN, CUSTOMER, COURIER, NEWCOMER = "adminToken", "customerToken", "courierToken", "newcomerToken"
VARIABLES = {
    "baseUrl": "http://127.0.0.1:5000",
    "adminUsername": "admin",
    "adminPassword": "admin123",
    "customerEmail": "alice@example.com",
    "customerPassword": "customer123",
    "courierEmail": "dave@example.com",
    "courierPassword": "courier123",
    "courierId": "1",
    # A delivered order of the demo data: its streams send the history and end at once.
    "deliveredOrderId": "4",
    "deliveredTrackingNumber": "CTQ2GP92Z1QZDZWN11",
}
# Set by the run itself (tokens and the ids of what it creates).
RUN_VARIABLES = [
    ADMIN, CUSTOMER, COURIER, NEWCOMER, "customerRefreshToken", "runId", "newcomerEmail", "newCourierId",
    "orderId", "trackingNumber", "deliveryCode", "issueId", "notificationId", "webhookId",
    "cancelOrderId", "adminCancelOrderId", "returnOrderId", "overrideOrderId", "proofOrderId", "planId",
]  # fmt: skip
PRE_REQUEST = [
    "// A run id makes the accounts and keys this run creates unique (set once per run).",
    "if (!pm.collectionVariables.get('runId')) { pm.collectionVariables.set('runId', String(Date.now())); }",
]


def step(method, path, status=None, token=None, body=None, params=None, query=None, headers=None, save=None,
         checks=(), name=None, raw=None, form=None):  # fmt: skip
    """One request of the scenario: `save` maps a collection variable to a JS expression on `body`.

    `raw` is (media type, text) for a body other than JSON; `form` a list of Postman formdata parts (a file
    part's `src` is relative to docs/, newman's working directory).
    """
    return {
        "raw": raw,
        "form": form,
        "method": method,
        "path": path,
        "status": status,
        "token": token,
        "body": body,
        "params": params or {},
        "query": query or {},
        "headers": headers or {},
        "save": save or {},
        "checks": list(checks),
        "name": name,
    }


def login(variable, who, password, refresh=None):
    save = {variable: "body.token"}
    if refresh:
        save[refresh] = "body.refresh_token"
    return step("POST", "/login", body={**who, "password": password}, save=save, name=f"Log in ({variable})")


def carry(order, *statuses):
    """The demo courier moves an order through these statuses."""
    return [
        step("PATCH", "/delivery/update-status", token=COURIER, body={"order_id": order, "status": status},
             name=f"Courier: {status}")
        for status in statuses
    ]  # fmt: skip


def new_order(variable, label):
    """The demo customer places an order and the admin assigns it to the demo courier."""
    return [
        step("POST", "/customer/place-order", token=CUSTOMER, name=f"Place an order ({label})",
             body={"delivery_address": "3 Test Lane, Shelbyville", "recipient_name": "Pat Postman"},
             save={variable: "body.order.order_id"}),
        step("POST", "/admin/assign-delivery", token=ADMIN, name=f"Assign it ({label})",
             body={"order_id": f"{{{{{variable}}}}}", "delivery_person_id": "{{courierId}}"}),
    ]  # fmt: skip


# The scenario, in order: (folder, [steps]). Numbers in bodies written "{{var}}" are sent as JSON numbers.
SCENARIO = [
    ("Health and documentation", [
        step("GET", "/healthz"),
        step("GET", "/readyz"),
        step("GET", "/openapi.json"),
        step("GET", "/docs"),
        step("GET", "/docs/{filename}", params={"filename": "swagger-ui.css"}),
        step("GET", "/"),
    ]),
    ("Log in as each role", [
        login(ADMIN, {"username": "{{adminUsername}}"}, "{{adminPassword}}"),
        login(CUSTOMER, {"email": "{{customerEmail}}"}, "{{customerPassword}}", refresh="customerRefreshToken"),
        login(COURIER, {"email": "{{courierEmail}}"}, "{{courierPassword}}"),
        step("POST", "/refresh", token="customerRefreshToken"),
    ]),
    ("A new customer signs up, changes their password and logs out", [
        step("POST", "/signup", save={"newcomerEmail": "body.user.email"},
             body={"name": "Pat Newcomer", "email": "newcomer-{{runId}}@example.com", "password": "first-password",
                   "address": "1 New Street, Springfield"}),
        step("POST", "/login", body={"email": "{{newcomerEmail}}", "password": "first-password"},
             save={NEWCOMER: "body.token"}, name="Log in (newcomer)"),
        step("POST", "/change-password", token=NEWCOMER,
             body={"old_password": "first-password", "new_password": "second-password"}),
        step("POST", "/logout", token=NEWCOMER),
    ]),
    ("Admin registers staff and closes the courier account it created", [
        step("POST", "/register", token=ADMIN, save={"newCourierId": "body.user.id"},
             body={"user_type": "delivery_person", "name": "Pat Courier", "email": "courier-{{runId}}@example.com",
                   "password": "courier-password"}),
        step("POST", "/register", token=ADMIN, name="Register an admin",
             body={"user_type": "admin", "username": "ops-{{runId}}", "password": "ops-password"}),
        step("DELETE", "/admin/delete-user/{user_type}/{user_id}", token=ADMIN,
             params={"user_type": "delivery_person", "user_id": "{{newCourierId}}"}),
        step("GET", "/admin/users", token=ADMIN, query={"type": "delivery_person"}),
    ]),
    ("Customer places an order", [
        step("POST", "/customer/place-order", token=CUSTOMER, headers={"Idempotency-Key": "order-{{runId}}"},
             body={"delivery_address": "9 Far Road, Shelbyville", "recipient_name": "Kim Postman", "weight_kg": 1.5},
             save={"orderId": "body.order.order_id", "trackingNumber": "body.order.tracking_number"}),
        step("GET", "/customer/orders", token=CUSTOMER, query={"limit": "10"}),
        step("GET", "/customer/track-order/{order_id}", token=CUSTOMER, params={"order_id": "{{orderId}}"}),
        step("GET", "/customer/orders/{order_id}/delivery-code", token=CUSTOMER, params={"order_id": "{{orderId}}"},
             save={"deliveryCode": "body.code"}),
        step("GET", "/customer/orders/{order_id}/qr", token=CUSTOMER, params={"order_id": "{{orderId}}"}),
        step("GET", "/customer/orders/{order_id}/qr.svg", token=CUSTOMER, params={"order_id": "{{orderId}}"}),
        step("GET", "/customer/preferences", token=CUSTOMER),
        step("PATCH", "/customer/preferences", token=CUSTOMER, body={"email": True, "sms": True}),
        step("GET", "/track/{tracking_number}", params={"tracking_number": "{{trackingNumber}}"}),
        step("GET", "/t/{tracking_number}", params={"tracking_number": "{{trackingNumber}}"}),
    ]),
    ("Admin assigns it", [
        step("GET", "/admin/orders", token=ADMIN, query={"status": "Pending", "limit": "20"}),
        step("POST", "/admin/assign-delivery", token=ADMIN,
             body={"order_id": "{{orderId}}", "delivery_person_id": "{{courierId}}"}),
    ]),
    ("Courier delivers it with the code", [
        step("GET", "/delivery/assigned-orders", token=COURIER),
        *carry("{{orderId}}", "Picked Up", "Out for Delivery"),
        step("PATCH", "/delivery/update-location", token=COURIER,
             body={"order_id": "{{orderId}}", "latitude": 40.7128, "longitude": -74.006, "location": "Elm Street"}),
        step("POST", "/delivery/confirm-delivery", token=COURIER,
             body={"order_id": "{{orderId}}", "code": "{{deliveryCode}}"}),
        step("GET", "/delivery/history", token=COURIER),
    ]),
    ("Customer gives feedback and raises an issue; the admin answers it", [
        step("POST", "/customer/feedback", token=CUSTOMER,
             body={"order_id": "{{orderId}}", "feedback": "Friendly and on time", "rating": 5}),
        step("POST", "/raise-issue", token=CUSTOMER, save={"issueId": "body.issue.issue_id"},
             body={"message": "The box was dented", "order_id": "{{orderId}}"}),
        step("GET", "/admin/issues", token=ADMIN, query={"status": "Open"}),
        step("PATCH", "/admin/issues", token=ADMIN,
             body={"issue_id": "{{issueId}}", "response": "Sorry! Refund issued.", "status": "Resolved"}),
    ]),
    ("Live streams of a delivered order (history, then the end)", [
        step("GET", "/customer/track-order/{order_id}/events", token=CUSTOMER,
             params={"order_id": "{{deliveredOrderId}}"}),
        step("GET", "/track/{tracking_number}/events", params={"tracking_number": "{{deliveredTrackingNumber}}"}),
    ]),
    ("Cancelling, returning and overriding orders the run placed", [
        step("POST", "/customer/place-order", token=CUSTOMER, name="Place an order (to cancel)",
             body={"delivery_address": "4 Test Lane, Shelbyville", "recipient_name": "Pat Postman"},
             save={"cancelOrderId": "body.order.order_id"}),
        step("POST", "/customer/cancel-order/{order_id}", token=CUSTOMER, params={"order_id": "{{cancelOrderId}}"},
             body={"reason": "Ordered twice"}),
        *new_order("adminCancelOrderId", "for the admin to cancel"),
        step("POST", "/admin/cancel-order/{order_id}", token=ADMIN, params={"order_id": "{{adminCancelOrderId}}"},
             body={"reason": "Customer called to cancel"}),
        *new_order("returnOrderId", "to return"),
        *carry("{{returnOrderId}}", "Picked Up", "Out for Delivery"),
        step("PATCH", "/delivery/update-status", token=COURIER, name="Courier: Failed Attempt",
             body={"order_id": "{{returnOrderId}}", "status": "Failed Attempt", "reason": "recipient_unavailable"}),
        step("POST", "/admin/return-order/{order_id}", token=ADMIN, params={"order_id": "{{returnOrderId}}"},
             body={"reason": "Recipient moved away"}),
        *new_order("overrideOrderId", "to deliver by override"),
        *carry("{{overrideOrderId}}", "Picked Up", "Out for Delivery"),
        step("POST", "/admin/unlock-delivery/{order_id}", token=ADMIN, params={"order_id": "{{overrideOrderId}}"},
             status=409, name="Unlock: 409 while not locked by wrong codes"),
        step("POST", "/admin/override-delivery/{order_id}", token=ADMIN, params={"order_id": "{{overrideOrderId}}"},
             body={"reason": "Recipient confirmed by phone"}),
    ]),
    ("Admin reports", [
        step("GET", "/admin/analytics", token=ADMIN),
        step("GET", "/admin/orders/export.csv", token=ADMIN, query={"status": "Delivered"}),
    ]),
    ("Dispatch, shifts and routes", [
        step("GET", "/admin/couriers", token=ADMIN, query={"on_shift": "true"}),
        step("PATCH", "/admin/couriers/{courier_id}", token=ADMIN, params={"courier_id": "2"},
             body={"capacity_kg": 30, "capacity_parcels": 12}),
        step("POST", "/delivery/shift/end", token=COURIER),
        step("POST", "/delivery/shift/start", token=COURIER),
        step("POST", "/delivery/locations", token=COURIER,
             body={"points": [{"latitude": 40.7130, "longitude": -74.0060, "recorded_at": "2026-01-31T12:00:00Z"}]}),
        step("POST", "/admin/dispatch/plans", token=ADMIN, save={"planId": "body.plan_id"}),
        step("GET", "/admin/dispatch/plans/{plan_id}", token=ADMIN, params={"plan_id": "{{planId}}"}),
        step("POST", "/admin/dispatch/plans/{plan_id}/apply", token=ADMIN, params={"plan_id": "{{planId}}"}),
        step("GET", "/delivery/route", token=COURIER),
        step("POST", "/delivery/route/optimize", token=COURIER),
    ]),
    ("Labels, proof files and CSV imports", [
        step("GET", "/admin/orders/{order_id}/label", token=ADMIN, params={"order_id": "{{orderId}}"}),
        step("GET", "/customer/orders/{order_id}/label", token=CUSTOMER, params={"order_id": "{{orderId}}"},
             query={"format": "zpl"}),
        step("POST", "/admin/labels", token=ADMIN, body={"order_ids": ["{{orderId}}"]}),
        *new_order("proofOrderId", "for a photo of the door"),
        *carry("{{proofOrderId}}", "Picked Up", "Out for Delivery"),
        step("POST", "/delivery/orders/{order_id}/proof", token=COURIER, params={"order_id": "{{proofOrderId}}"},
             form=[{"key": "status", "type": "text", "value": "Failed Attempt"},
                   {"key": "reason", "type": "text", "value": "recipient_unavailable"},
                   {"key": "photo", "type": "file", "src": "postman/door.png"}]),
        step("GET", "/customer/orders/{order_id}/proof", token=CUSTOMER, params={"order_id": "{{proofOrderId}}"}),
        step("GET", "/admin/orders/{order_id}/proof", token=ADMIN, params={"order_id": "{{proofOrderId}}"}),
        step("GET", "/customer/orders/import/template.csv", token=CUSTOMER),
        step("POST", "/customer/orders/import", token=CUSTOMER, query={"dry_run": "true"}, status=200,
             raw=("text/csv", "delivery_address,recipient_name\n9 Far Road,Kim Postman\n")),
        step("GET", "/admin/orders/import/template.csv", token=ADMIN),
        step("POST", "/admin/orders/import", token=ADMIN, query={"dry_run": "true"}, status=200,
             raw=("text/csv", "customer_id,delivery_address,recipient_name\n1,9 Far Road,Kim Postman\n")),
    ]),
    ("Notifications and webhooks", [
        step("GET", "/admin/notifications", token=ADMIN, query={"channel": "sms"},
             save={"notificationId": "body.notifications[0].notification_id"},
             checks=["pm.test('the run queued SMS notifications', () => "
                     "pm.expect(body.notifications.length).to.be.above(0));"]),
        step("GET", "/admin/notifications/{notification_id}", token=ADMIN,
             params={"notification_id": "{{notificationId}}"}),
        step("POST", "/admin/notifications/{notification_id}/retry", token=ADMIN, status=409,
             params={"notification_id": "{{notificationId}}"}, name="Retry: 409 unless it failed"),
        step("POST", "/admin/webhooks", token=ADMIN, save={"webhookId": "body.webhook.webhook_id"},
             body={"url": "https://example.com/hooks/courier", "events": ["order.delivered", "order.failed_attempt"]}),
        step("GET", "/admin/webhooks", token=ADMIN),
        step("GET", "/admin/webhooks/{webhook_id}", token=ADMIN, params={"webhook_id": "{{webhookId}}"}),
        step("POST", "/admin/webhooks/{webhook_id}/test", token=ADMIN, params={"webhook_id": "{{webhookId}}"}),
        step("POST", "/admin/webhooks/{webhook_id}/enable", token=ADMIN, params={"webhook_id": "{{webhookId}}"}),
        step("DELETE", "/admin/webhooks/{webhook_id}", token=ADMIN, params={"webhook_id": "{{webhookId}}"}),
    ]),
]  # fmt: skip


def inline(schema, components):
    """The schema with its $refs replaced and only what Postman's JSON Schema check needs (draft 7)."""
    if isinstance(schema, list):
        return [inline(item, components) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return inline(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    dropped = {"format", "contentMediaType", "description", "default", "pattern"}
    return {
        key: (value if key in ("required", "enum") else inline(value, components))
        if key != "properties"
        else {name: inline(sub, components) for name, sub in value.items()}
        for key, value in schema.items()
        if key not in dropped and not key.startswith("x-")
    }


def raw_body(body):
    """The JSON text of a body; "{{var}}" standing for an id is sent unquoted (a JSON number)."""
    text = json.dumps(body, indent=2)
    for var in ("orderId", "courierId", "issueId", "cancelOrderId", "adminCancelOrderId", "returnOrderId",
                "overrideOrderId", "proofOrderId"):  # fmt: skip
        text = text.replace(f'"{{{{{var}}}}}"', f"{{{{{var}}}}}")
    return text


def tests(s, op, components):
    """The pm.test lines of a step: its status, then its body's shape (or content type)."""
    statuses = [code for code in op["responses"] if code.startswith("2")]
    status = s["status"] or int(statuses[0])
    response = op["responses"][str(status)]
    lines = [f"pm.test('status is {status}', () => pm.response.to.have.status({status}));"]
    content = response.get("content", {})
    if "application/json" in content:
        schema = inline(content["application/json"]["schema"], components)
        lines += [
            "const body = pm.response.json();",
            f"const schema = {json.dumps(schema)};",
            "pm.test('body matches the documented schema', () => pm.response.to.have.jsonSchema(schema));",
        ]
    elif content:
        media = next(iter(content))
        lines.append(
            f"pm.test('content type is {media}', () => "
            f"pm.expect(pm.response.headers.get('Content-Type') || '').to.include('{media.split('*')[0]}'));"
        )
    for variable, expression in s["save"].items():
        lines.append(f"pm.collectionVariables.set('{variable}', {expression});")
    lines += s["checks"]
    return lines


def request_item(s, doc):
    op = doc["paths"][s["path"]][s["method"].lower()]
    components = doc["components"]["schemas"]
    segments = [
        f":{part[1:-1]}" if part.startswith("{") else part for part in s["path"].strip("/").split("/") if part
    ]
    url = {"raw": "{{baseUrl}}/" + "/".join(segments), "host": ["{{baseUrl}}"], "path": segments}
    params = {p["name"]: p for p in op.get("parameters", [])}
    if s["query"]:
        url["query"] = [
            {"key": key, "value": value, "description": params[key]["description"]}
            for key, value in s["query"].items()
        ]
        url["raw"] += "?" + "&".join(f"{key}={value}" for key, value in s["query"].items())
    if s["params"]:
        url["variable"] = [
            {"key": key, "value": value, "description": params[key]["description"]}
            for key, value in s["params"].items()
        ]
    headers = [{"key": key, "value": value} for key, value in s["headers"].items()]
    request = {"method": s["method"], "header": headers, "url": url, "description": op["description"]}
    if op["x-roles"]:
        request["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": f"{{{{{s['token']}}}}}"}]}
    else:
        request["auth"] = {"type": "noauth"}
    if s["raw"] is not None:
        media, text = s["raw"]
        headers.append({"key": "Content-Type", "value": media})
        request["body"] = {"mode": "raw", "raw": text}
    if s["form"] is not None:
        request["body"] = {"mode": "formdata", "formdata": s["form"]}
    if s["body"] is not None:
        headers.append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {
            "mode": "raw",
            "raw": raw_body(s["body"]),
            "options": {"raw": {"language": "json"}},
        }
    name = f"{s['method']} {s['path']} - {s['name'] or op['summary']}"
    script = {"type": "text/javascript", "exec": tests(s, op, components)}
    return {"name": name, "request": request, "event": [{"listen": "test", "script": script}]}


def collection(doc=None):
    """The Postman collection for the document."""
    doc = doc or openapi.document(create_app({"TESTING": True}))
    variables = [{"key": key, "value": value} for key, value in VARIABLES.items()]
    variables += [{"key": key, "value": ""} for key in RUN_VARIABLES]
    return {
        "info": {
            "name": doc["info"]["title"],
            "description": doc["info"]["description"]
            + "\n\nA run on the demo data (seed.sql), in order: it logs in as each role from the collection "
            "variables. Generated from /openapi.json by `make postman`; do not edit by hand.",
            "schema": SCHEMA_URL,
        },
        "event": [{"listen": "prerequest", "script": {"type": "text/javascript", "exec": PRE_REQUEST}}],
        "variable": variables,
        "item": [
            {"name": f"{number:02d} {folder}", "item": [request_item(s, doc) for s in steps]}
            for number, (folder, steps) in enumerate(SCENARIO, 1)
        ],
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
