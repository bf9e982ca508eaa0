"""Bulk CSV import of orders: the file is checked whole, each row with place-order's own schema, then the valid
rows are created in batches of IMPORT_BATCH_ROWS, each batch one short transaction.

Whole-file problems (not UTF-8 text, binary, no header, unknown or missing columns, too many rows) answer 400 and
store nothing. Row problems are reported per row, by column. Without ?atomic=true every valid row is created;
with it, none is when any row is bad. ?dry_run=true only validates. An Idempotency-Key makes a retried upload
answer the first one's report; the rows of an import carry the order idempotency key 'import:<id>:<row>', so an
import cut short (a lost connection mid-way) resumes on retry without creating any row twice.
"""

import csv
import hashlib
import io
import json
import re
from contextlib import closing

import pymysql
from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from . import events, notifications, orders, proof, schemas
from .db import execute, get_db, query, transaction
from .errors import ApiError, bad_request, conflict
from .export import cell
from .validation import validate

ORDER_FIELDS = (
    "pickup_address",
    "delivery_address",
    "recipient_name",
    "recipient_phone",
    "description",
    "weight_kg",
)
ADMIN_COLUMNS = ("customer_id", *ORDER_FIELDS)
CUSTOMER_COLUMNS = ORDER_FIELDS
REQUIRED = ("delivery_address", "recipient_name")
# A spreadsheet runs a cell starting with one of these as a formula; + and - are fine in a number or phone.
FORMULA_STARTS = ("=", "@", "\t", "\r", "+", "-")
NUMBER_OR_PHONE = re.compile(r"^[+-]?[0-9 ().,/-]+$")
EXAMPLE = {
    "customer_id": "1",
    "pickup_address": "",
    "delivery_address": "221B Baker Street, London",
    "recipient_name": "Martha Hudson",
    "recipient_phone": "+44 20 7946 0000",
    "description": "Books",
    "weight_kg": "1.2",
}


def _flag(name):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise bad_request(f"{name} must be true or false", "invalid_query", {name: "must be true or false"})


def _file_bytes(limit):
    """The uploaded CSV: a multipart 'file' field, or the body itself as text/csv."""
    request.max_content_length = limit + 64 * 1024
    try:
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is None:
                raise bad_request(
                    "Send the CSV as the multipart field 'file'", "missing_fields", {"file": "required"}
                )
            with closing(upload):  # large parts are spooled to a temporary file: close it now
                data = upload.stream.read(limit + 1)
        elif request.mimetype in ("text/csv", "application/csv", "text/plain"):
            data = request.get_data(cache=False)
        else:
            raise bad_request("Send the CSV as text/csv, or as the multipart field 'file'", "invalid_body")
    except RequestEntityTooLarge:
        data = b"x" * (limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"The CSV may be at most {limit} bytes (IMPORT_MAX_BYTES)", "file_too_large")
    return data


def _text(data):
    if not data.strip():
        raise bad_request("The CSV file is empty", "empty_file")
    if b"\x00" in data:
        raise bad_request("The file is binary, not CSV text", "not_csv")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("The CSV must be UTF-8 text", "not_csv") from None


def _rows(text, columns, max_rows):
    """The header checked against `columns`, then [(line number, {column: cell})] of the non-blank rows."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise bad_request("The CSV has no header row", "empty_file")
        header = [h.strip().lower() for h in header]
        unknown = [h for h in header if h not in columns]
        missing = [
            c for c in (*REQUIRED, *(["customer_id"] if "customer_id" in columns else [])) if c not in header
        ]
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if unknown or missing or duplicated:
            fields = {name: "unknown column" for name in unknown}
            fields.update({name: "missing column" for name in missing})
            fields.update({name: "duplicated column" for name in duplicated})
            raise bad_request(
                "Wrong header: the columns are " + ", ".join(columns) + " (see the template)",
                "invalid_header",
                fields,
                columns=list(columns),
            )
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) == max_rows:
                raise bad_request(
                    f"Too many rows: at most {max_rows} per file (IMPORT_MAX_ROWS); split the file",
                    "too_many_rows",
                    max_rows=max_rows,
                )
            rows.append((reader.line_num, header, values))
    except csv.Error as err:
        raise bad_request(f"The CSV is malformed: {err}", "not_csv") from None
    if not rows:
        raise bad_request("The CSV has a header but no rows", "empty_file")
    return rows


def _is_formula(value):
    return value.startswith(FORMULA_STARTS) and not NUMBER_OR_PHONE.match(value)


def _check_row(header, values, with_customer):
    """(fields for place-order, customer_id, {column: problem})."""
    errors = {}
    if len(values) != len(header):
        return None, None, {"row": f"has {len(values)} cells, the header has {len(header)}"}
    raw = dict(zip(header, values, strict=True))
    for name, value in raw.items():
        if _is_formula(value):
            errors[name] = "formula cells (starting with =, +, -, @) are refused"
    body = {}
    for name in ORDER_FIELDS:
        value = raw.get(name, "").strip()
        if not value or name in errors:
            continue
        if name == "weight_kg":
            try:
                body[name] = float(value)
            except ValueError:
                errors[name] = "must be a number"
        else:
            body[name] = value
    customer_id = None
    if with_customer and "customer_id" not in errors:
        try:
            customer_id = int(raw.get("customer_id", "").strip())
            if not 1 <= customer_id <= schemas.MAX_ID:
                raise ValueError
        except ValueError:
            errors["customer_id"] = "required: a customer id"
    try:
        validate(schemas.PLACE_ORDER, {k: v for k, v in body.items() if k not in errors})
    except ApiError as err:
        for name, problem in (err.fields or {}).items():
            errors.setdefault(name, problem)
    return body, customer_id, errors


def _customers(ids):
    """{customer_id: address} of the customers (not deleted) among `ids`."""
    found = {}
    ids = sorted(ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = query(
            "SELECT customer_id, address FROM customers WHERE deleted_at IS NULL"
            f" AND customer_id IN ({', '.join(['%s'] * len(chunk))})",
            tuple(chunk),
        )
        found.update({row["customer_id"]: row["address"] for row in rows})
    return found


def validate_file(rows, with_customer, own_customer_id):
    """The per-row report entries and the rows to create: [(entry, body, customer_id)]."""
    checked, seen = [], {}
    for line, header, values in rows:
        body, customer_id, errors = _check_row(header, values, with_customer)
        if not with_customer:
            customer_id = own_customer_id
        entry = {"row": line, "order_id": None, "tracking_number": None, "errors": errors}
        if not errors:
            key = (customer_id, tuple(sorted(body.items())))
            if key in seen:
                errors["row"] = f"duplicate of row {seen[key]}"
            else:
                seen[key] = line
        checked.append((entry, body, customer_id, dict(zip(header, values, strict=False))))
    addresses = _customers({c for _, _, c, _ in checked if c is not None})
    for entry, _, customer_id, _ in checked:
        if customer_id is not None and customer_id not in addresses and "customer_id" not in entry["errors"]:
            entry["errors"]["customer_id"] = "no such customer"
    return checked, addresses


def _request_hash(data, atomic):
    return hashlib.sha256(data + (b"\natomic" if atomic else b"")).hexdigest()


def _begin(caller, key, file_hash, atomic):
    """The import's row: new (and None), or a finished one to replay, or a resumable one cut short."""
    if key:
        existing = query(
            "SELECT import_id, file_sha256, status, report FROM order_imports"
            " WHERE user_type = %s AND user_id = %s AND idempotency_key = %s",
            (caller.role, caller.id, key),
            one=True,
        )
        if existing:
            if existing["file_sha256"] != file_hash:
                raise conflict(
                    "This Idempotency-Key was already used with a different file", "idempotency_key_reused"
                )
            return existing["import_id"], existing
    try:
        import_id, _ = execute(
            "INSERT INTO order_imports (user_type, user_id, idempotency_key, file_sha256, atomic)"
            " VALUES (%s, %s, %s, %s, %s)",
            (caller.role, caller.id, key, file_hash, atomic),
        )
    except pymysql.err.IntegrityError:
        raise conflict(
            "An import with this Idempotency-Key is running; retry shortly", "import_in_progress"
        ) from None
    return import_id, None


def _create_batch(import_id, caller, actor_name, batch, addresses):
    """Create one batch of valid rows in one transaction; fill their report entries."""
    config = current_app.config
    keyed = {
        f"import:{import_id}:{entry['row']}": (entry, body, customer_id) for entry, body, customer_id in batch
    }
    with transaction():
        done = query(
            "SELECT order_id, tracking_number, idempotency_key FROM orders WHERE customer_id IN"
            f" ({', '.join(['%s'] * len({c for _, _, c in batch}))}) AND idempotency_key IN"
            f" ({', '.join(['%s'] * len(keyed))})",
            (*sorted({c for _, _, c in batch}), *keyed),
        )
        for row in done:  # created by an earlier attempt of this import
            entry = keyed.pop(row["idempotency_key"])[0]
            entry.update(order_id=row["order_id"], tracking_number=row["tracking_number"])
        params, numbers = [], {}
        for key, (_entry, body, customer_id) in keyed.items():
            number = orders.new_tracking_number()
            numbers[number] = key
            params.append(
                (
                    number,
                    customer_id,
                    body.get("pickup_address") or addresses[customer_id],
                    body["delivery_address"],
                    body["recipient_name"],
                    body.get("recipient_phone"),
                    body.get("description"),
                    body.get("weight_kg"),
                    key,
                    proof.code_hash(proof.delivery_code(number, config)),
                )
            )
        if not params:
            return
        with get_db().cursor() as cur:
            cur.executemany(
                "INSERT INTO orders (tracking_number, customer_id, pickup_address, delivery_address,"
                " recipient_name, recipient_phone, description, weight_kg, idempotency_key, delivery_code_hash)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                params,
            )
        created = query(
            f"SELECT order_id, tracking_number FROM orders WHERE tracking_number IN ({', '.join(['%s'] * len(numbers))})",
            tuple(numbers),
        )
        ids = {}
        for row in created:
            entry = keyed[numbers[row["tracking_number"]]][0]
            entry.update(order_id=row["order_id"], tracking_number=row["tracking_number"])
            ids[row["order_id"]] = entry["row"]
        with get_db().cursor() as cur:
            cur.executemany(
                "INSERT INTO order_events (order_id, type, status, note, actor_role, actor_id, actor_name)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",  # placeholders only: PyMySQL sends one multi-row INSERT
                [
                    (
                        order_id,
                        "created",
                        "Pending",
                        f"Order imported from CSV (import {import_id}, row {line})",
                        caller.role,
                        caller.id,
                        actor_name,
                    )
                    for order_id, line in ids.items()
                ],
            )
        if not notifications.anyone_told("order.created"):
            return  # nobody to tell: no need to read the events back
        events = query(
            "SELECT event_id, order_id FROM order_events WHERE type = 'created' AND order_id IN"
            f" ({', '.join(['%s'] * len(ids))})",
            tuple(ids),
        )
        for event in events:  # the outbox: each order's notifications in this same transaction
            notifications.on_order_event(event["order_id"], event["event_id"], "created", "Pending")


def run_import(caller, data, own_customer_id, dry_run, atomic, key):
    """Validate (and unless dry_run, create) the orders of a CSV file; returns (status code, report)."""
    config = current_app.config
    with_customer = own_customer_id is None
    columns = ADMIN_COLUMNS if with_customer else CUSTOMER_COLUMNS
    rows = _rows(_text(data), columns, config["IMPORT_MAX_ROWS"])
    checked, addresses = validate_file(rows, with_customer, own_customer_id)
    bad = [entry for entry, *_ in checked if entry["errors"]]
    for entry, _, _, values in checked:
        if entry["errors"]:
            entry["values"] = values
        else:
            del entry["errors"]
    report = {
        "import_id": None,
        "dry_run": dry_run,
        "atomic": atomic,
        "rows": len(checked),
        "valid": len(checked) - len(bad),
        "invalid": len(bad),
        "created": 0,
        "results": [entry for entry, *_ in checked],
    }
    if dry_run:
        return 200, report, False
    if atomic and bad:
        report["message"] = "Nothing was created: fix the rows with errors (atomic=true)"
        return 422, {**report, "error": report["message"], "code": "invalid_rows"}, False
    import_id, existing = _begin(caller, key, _request_hash(data, atomic), atomic)
    if existing and existing["status"] == "done":
        stored = json.loads(existing["report"])
        return stored.pop("_status"), stored, True
    report["import_id"] = import_id
    good = [(entry, body, customer_id) for entry, body, customer_id, _ in checked if "errors" not in entry]
    actor_name = events.actor_name(caller)
    size = config["IMPORT_BATCH_ROWS"]
    try:
        for start in range(0, len(good), size):
            _create_batch(import_id, caller, actor_name, good[start : start + size], addresses)
    except pymysql.err.IntegrityError:  # another request is running the same import (same key) right now
        raise conflict(
            "An import with this Idempotency-Key is running; retry shortly", "import_in_progress"
        ) from None
    report["created"] = sum(1 for entry, *_ in good if entry["order_id"])
    status = 201 if report["created"] else 422
    report["message"] = f"{report['created']} orders created, {len(bad)} rows with errors"
    if status == 422:  # the error shape, with the report
        report.update(error="No order was created: every row has errors", code="invalid_rows")
    execute(
        "UPDATE order_imports SET status = 'done', rows_total = %s, rows_created = %s, rows_failed = %s,"
        " report = %s, finished_at = UTC_TIMESTAMP(6) WHERE import_id = %s",
        (len(checked), report["created"], len(bad), json.dumps({**report, "_status": status}), import_id),
    )
    return status, report, False


def report_csv(report):
    """The per-row report as CSV: row, status, order id, tracking number, errors, then the failed row's cells."""
    columns = sorted({name for entry in report["results"] for name in entry.get("values", {})})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "result", "order_id", "tracking_number", "errors", *columns])
    for entry in report["results"]:
        errors = "; ".join(f"{name}: {problem}" for name, problem in entry.get("errors", {}).items())
        if entry.get("order_id"):
            result = "created"
        elif errors:
            result = "error"
        else:
            result = "valid"
        values = entry.get("values", {})
        writer.writerow(
            [
                entry["row"],
                result,
                entry.get("order_id") or "",
                entry.get("tracking_number") or "",
                cell(errors),
            ]
            + [cell(values.get(name)) for name in columns]
        )
    return out.getvalue()


def import_options():
    """?dry_run=, ?atomic=, ?format= and the Idempotency-Key header of an import request (400 when bad)."""
    fmt = request.args.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise bad_request(
            "format must be one of: json, csv", "invalid_query", {"format": "must be one of: json, csv"}
        )
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key.strip()) <= 200:
        raise bad_request("Idempotency-Key must be 1 to 200 characters", "invalid_header")
    return {
        "dry_run": _flag("dry_run"),
        "atomic": _flag("atomic"),
        "format": fmt,
        "key": key.strip() if key else None,
    }


def import_file(caller, customer_id):
    """POST .../orders/import: (status, report, replayed, format) for the uploaded CSV."""
    options = import_options()
    data = _file_bytes(current_app.config["IMPORT_MAX_BYTES"])
    status, report, replayed = run_import(
        caller, data, customer_id, options["dry_run"], options["atomic"], options["key"]
    )
    return status, report, replayed, options["format"]


def template_csv(with_customer):
    """The CSV template: the header and one example row."""
    columns = ADMIN_COLUMNS if with_customer else CUSTOMER_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerow([EXAMPLE[name] for name in columns])
    return out.getvalue()
