"""Bulk CSV import of orders: per-row reports, dry runs, atomic imports, idempotent retries, the template, the
error-report CSV, whole-file refusals, and 10,000 rows in batches within 30 seconds."""

import csv
import io
import time

import pymysql
import pytest
from helpers import assert_error, count
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from courier import imports

HEADER = "customer_id,pickup_address,delivery_address,recipient_name,recipient_phone,description,weight_kg"
CUSTOMER_HEADER = "pickup_address,delivery_address,recipient_name,recipient_phone,description,weight_kg"


def post(client, user, text, path="/admin/orders/import", query="", headers=None, multipart=False):
    headers = {**user.headers, **(headers or {})}
    data = text.encode() if isinstance(text, str) else text
    if multipart:
        # The body built in memory: the test client would spool a large one to a file it never closes.
        boundary, body = encode_multipart(MultiDict({"file": FileStorage(io.BytesIO(data), "orders.csv")}))
        content_type = f"multipart/form-data; boundary={boundary}"
        return client.post(path + query, data=body, headers=headers, content_type=content_type)
    return client.post(path + query, data=data, headers=headers, content_type="text/csv")


def orders_of(sql, customer_id):
    return count(sql, "orders", "customer_id = %s", (customer_id,))


def test_admin_imports_valid_rows_for_several_customers(client, world, sql):
    text = "\n".join(
        [
            HEADER,
            f"{world.alice.id},,1 Main St,Ann,+1 555 0100,Books,1.5",
            f"{world.bob.id},9 Depot Rd,2 High St,Ben,,,",
        ]
    )
    response = post(client, world.admin, text)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["rows"], body["valid"], body["invalid"], body["created"]) == (2, 2, 0, 2)
    first, second = body["results"]
    assert first["row"] == 2 and second["row"] == 3
    row = sql("SELECT * FROM orders WHERE order_id = %s", (first["order_id"],), one=True)
    assert row["customer_id"] == world.alice.id and row["recipient_name"] == "Ann"
    assert row["tracking_number"] == first["tracking_number"] and str(row["weight_kg"]) == "1.500"
    assert (
        row["pickup_address"]
        == sql("SELECT address FROM customers WHERE customer_id = %s", (world.alice.id,), one=True)["address"]
    )  # the customer's address by default, as place-order does
    assert row["delivery_code_hash"] and row["status"] == "Pending"
    second_row = sql("SELECT * FROM orders WHERE order_id = %s", (second["order_id"],), one=True)
    assert second_row["customer_id"] == world.bob.id and second_row["pickup_address"] == "9 Depot Rd"
    events = sql("SELECT * FROM order_events WHERE order_id = %s", (first["order_id"],))
    assert [(e["type"], e["status"], e["actor_role"]) for e in events] == [("created", "Pending", "admin")]
    imported = sql("SELECT * FROM order_imports", one=True)
    assert (imported["status"], imported["rows_created"], imported["rows_failed"]) == ("done", 2, 0)


def test_customer_imports_own_orders_as_multipart(client, world, sql):
    text = CUSTOMER_HEADER + "\n,1 Main St,Ann,,,\n,2 Main St,Ben,,,0.2\n"
    response = post(client, world.alice, text, "/customer/orders/import", multipart=True)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["created"] == 2
    assert orders_of(sql, world.alice.id) == 2 and orders_of(sql, world.bob.id) == 0
    listed = client.get("/customer/orders", headers=world.alice.headers).get_json()["orders"]
    assert {o["recipient_name"] for o in listed} == {"Ann", "Ben"}


def test_customer_cannot_name_a_customer(client, world, sql):
    response = post(client, world.alice, HEADER + f"\n{world.bob.id},,1 St,Ann,,,", "/customer/orders/import")
    body = assert_error(response, 400, "invalid_header")
    assert body["fields"] == {"customer_id": "unknown column"}
    assert count(sql, "orders") == 0


def test_rows_with_errors_are_reported_by_column_and_valid_rows_created(client, world, sql):
    text = "\n".join(
        [
            HEADER,
            f"{world.alice.id},,1 Main St,Ann,,,",  # fine
            f"{world.alice.id},,,Ben,,,",  # no delivery address
            f"{world.alice.id},,3 Main St,Cy,not a phone,,-2",  # bad phone, bad weight
            f"{world.alice.id},,=cmd|'/c calc'!A1,Dee,,,",  # formula
            f"{world.alice.id},,1 Main St,Ann,,,",  # duplicate of row 2
            "999999,,5 Main St,Eve,,,",  # no such customer
            "abc,,6 Main St,Fay,,,3kg",  # not an id, not a number
            f"{world.alice.id},,7 Main St",  # short row
        ]
    )
    response = post(client, world.admin, text)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["rows"], body["valid"], body["invalid"], body["created"]) == (8, 1, 7, 1)
    errors = {entry["row"]: entry.get("errors") for entry in body["results"]}
    assert errors[2] is None
    assert errors[3] == {"delivery_address": "required"}
    assert set(errors[4]) == {"recipient_phone", "weight_kg"}
    assert "formula" in errors[5]["delivery_address"]
    assert errors[6] == {"row": "duplicate of row 2"}
    assert errors[7] == {"customer_id": "no such customer"}
    assert set(errors[8]) == {"customer_id", "weight_kg"}
    assert "cells" in errors[9]["row"]
    assert body["results"][3]["values"]["delivery_address"] == "=cmd|'/c calc'!A1"
    assert count(sql, "orders") == 1


def test_phone_numbers_and_negative_looking_text_are_not_formulas(client, world, sql):
    text = HEADER + f"\n{world.alice.id},,1 St,Ann,+44 20 7946 0000,,\n{world.alice.id},,2 St,Ben,,+SUM(A1),"
    body = post(client, world.admin, text).get_json()
    assert body["results"][0].get("errors") is None
    assert "formula" in body["results"][1]["errors"]["description"]


def test_atomic_creates_nothing_when_a_row_is_bad(client, world, sql):
    text = HEADER + f"\n{world.alice.id},,1 St,Ann,,,\n{world.alice.id},,,Ben,,,"
    response = post(client, world.admin, text, query="?atomic=true")
    body = assert_error_report(response, 422)
    assert body["created"] == 0 and body["invalid"] == 1
    assert count(sql, "orders") == 0 and count(sql, "order_events") == 0
    ok = post(client, world.admin, HEADER + f"\n{world.alice.id},,1 St,Ann,,,", query="?atomic=true")
    assert ok.status_code == 201 and count(sql, "orders") == 1


def assert_error_report(response, status):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_dry_run_validates_and_creates_nothing(client, world, sql):
    text = HEADER + f"\n{world.alice.id},,1 St,Ann,,,\n{world.alice.id},,,Ben,,,"
    response = post(client, world.admin, text, query="?dry_run=true")
    assert response.status_code == 200
    body = response.get_json()
    assert body["dry_run"] is True and (body["valid"], body["invalid"], body["created"]) == (1, 1, 0)
    assert body["results"][0]["order_id"] is None
    assert count(sql, "orders") == 0 and count(sql, "order_imports") == 0


def test_idempotency_key_makes_a_retry_create_nothing_twice(client, world, sql):
    text = HEADER + f"\n{world.alice.id},,1 St,Ann,,,\n{world.alice.id},,2 St,Ben,,,"
    key = {"Idempotency-Key": "upload-1"}
    first = post(client, world.admin, text, headers=key)
    again = post(client, world.admin, text, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["results"] == first.get_json()["results"]
    assert count(sql, "orders") == 2
    other = post(client, world.admin, text + "\n" + f"{world.alice.id},,3 St,Cy,,,", headers=key)
    assert_error(other, 409, "idempotency_key_reused")
    assert count(sql, "orders") == 2
    # The same key of another user is theirs alone.
    mine = post(
        client, world.alice, CUSTOMER_HEADER + "\n,1 St,Ann,,,", "/customer/orders/import", headers=key
    )
    assert mine.status_code == 201 and "Idempotent-Replayed" not in mine.headers


def test_a_retry_resumes_an_import_cut_short(client, world, sql, app, monkeypatch):
    """The database connection dies after the first batch: the retry with the same key creates only the rest."""
    app.config["IMPORT_BATCH_ROWS"] = 2
    text = HEADER + "".join(f"\n{world.alice.id},,{n} St,R{n},,," for n in range(5))
    key = {"Idempotency-Key": "cut-short"}
    real_batch, calls = imports._create_batch, []

    def dies_on_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
        return real_batch(*args)

    monkeypatch.setattr(imports, "_create_batch", dies_on_second_batch)
    assert_error(post(client, world.admin, text, headers=key), 503, "database_unavailable")
    assert count(sql, "orders") == 2
    monkeypatch.setattr(imports, "_create_batch", real_batch)
    retry = post(client, world.admin, text, headers=key)
    assert retry.status_code == 201 and retry.get_json()["created"] == 5
    assert count(sql, "orders") == 5 and count(sql, "order_events") == 5
    again = post(client, world.admin, text, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true" and count(sql, "orders") == 5


def test_error_report_csv_and_template(client, world):
    text = HEADER + f"\n{world.alice.id},,1 St,Ann,,,\n{world.alice.id},,,=HYPERLINK(x),,,"
    response = post(client, world.admin, text, query="?format=csv&dry_run=true")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["result"] for r in rows] == ["valid", "error"]
    assert "delivery_address: required" in rows[1]["errors"]
    assert rows[1]["recipient_name"] == "'=HYPERLINK(x)"  # defused for spreadsheets
    template = client.get("/admin/orders/import/template.csv", headers=world.admin.headers)
    assert template.status_code == 200 and template.mimetype == "text/csv"
    assert template.get_data(as_text=True).splitlines()[0] == HEADER
    mine = client.get("/customer/orders/import/template.csv", headers=world.alice.headers)
    assert mine.get_data(as_text=True).splitlines()[0] == CUSTOMER_HEADER
    assert_error(client.get("/customer/orders/import/template.csv", headers=world.admin.headers), 403)
    assert_error(client.get("/admin/orders/import/template.csv"), 401)


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "empty_file"),
        (b"   \n", "empty_file"),
        (HEADER.encode() + b"\n", "empty_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not_csv"),
        (b"\xff\xfe" + "header".encode("utf-16-le"), "not_csv"),
        (b"name,email\nA,b@c.d\n", "invalid_header"),
        (HEADER.encode() + b",delivery_address\n1,,1 St,A,,,,x\n", "invalid_header"),
        (b'customer_id,delivery_address,recipient_name\n1,"unterminated,A\n', "not_csv"),
    ],
)
def test_whole_file_problems_are_400_and_store_nothing(client, world, sql, data, code):
    assert_error(post(client, world.admin, data), 400, code)
    assert count(sql, "orders") == 0 and count(sql, "order_imports") == 0


def test_more_rows_than_allowed_is_refused(client, world, sql, app):
    app.config["IMPORT_MAX_ROWS"] = 3
    text = HEADER + "".join(f"\n{world.alice.id},,{n} St,R{n},,," for n in range(4))
    body = assert_error(post(client, world.admin, text), 400, "too_many_rows")
    assert body["max_rows"] == 3 and count(sql, "orders") == 0


def test_bad_requests_tokens_and_roles(client, world, sql):
    text = HEADER + f"\n{world.alice.id},,1 St,Ann,,,"
    assert_error(post(client, world.admin, text, query="?dry_run=maybe"), 400, "invalid_query")
    assert_error(post(client, world.admin, text, query="?format=xml"), 400, "invalid_query")
    assert_error(
        post(client, world.admin, text, headers={"Idempotency-Key": "k" * 201}), 400, "invalid_header"
    )
    response = client.post("/admin/orders/import", json={"rows": []}, headers=world.admin.headers)
    assert_error(response, 400, "invalid_body")
    response = client.post("/admin/orders/import", data={}, headers=world.admin.headers,
                           content_type="multipart/form-data")  # fmt: skip
    assert_error(response, 400, "missing_fields")
    assert_error(client.post("/admin/orders/import", data=text, content_type="text/csv"), 401)
    assert_error(post(client, world.alice, text), 403, "wrong_role")
    assert_error(post(client, world.dave, text, "/customer/orders/import"), 403, "wrong_role")
    assert count(sql, "orders") == 0


def test_oversized_file_is_413(client, world, app, sql):
    app.config["IMPORT_MAX_BYTES"] = 1000
    text = HEADER + "".join(f"\n{world.alice.id},,{n} Long Street Name,Recipient {n},,," for n in range(40))
    assert_error(post(client, world.admin, text), 413, "file_too_large")
    assert_error(post(client, world.admin, text, multipart=True), 413, "file_too_large")
    assert count(sql, "orders") == 0


def test_ten_thousand_rows_import_in_batches_under_30_seconds(client, world, sql):
    customers = [world.alice.id, world.bob.id]
    lines = [HEADER] + [
        f"{customers[n % 2]},,{n} Import Avenue,Recipient {n},+1 555 {n:04d},Parcel {n},{1 + n % 7}"
        for n in range(10_000)
    ]
    started = time.monotonic()
    response = post(client, world.admin, "\n".join(lines))
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["created"] == 10_000
    assert count(sql, "orders") == 10_000 and count(sql, "order_events", "type = 'created'") == 10_000
    assert elapsed < 30, f"10,000 rows took {elapsed:.1f} s"
    print(f"10,000 rows imported in {elapsed:.1f} s")


def test_files_larger_than_the_json_body_limit_are_accepted(client, world, sql):
    """The 1 MiB limit of JSON bodies does not apply: an import may be up to IMPORT_MAX_BYTES."""
    text = HEADER + "".join(f"\n{world.alice.id},,{n} St,R{n},,{'d' * 990},1" for n in range(1500))
    assert len(text) > 1.4 * 1024 * 1024
    for multipart in (False, True):
        response = post(client, world.admin, text, query="?dry_run=true", multipart=multipart)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["valid"] == 1500
