"""CSV export of orders, streamed in keyset batches: memory stays the same at any number of rows.

The rows come in (created_at, order_id) order, the order every filter of GET /admin/orders has an index for
(ix_orders_created, ix_orders_status_created, ix_orders_customer_created, ix_orders_courier_created), so each
batch is one index range read, never a sort. All batches read one snapshot (a REPEATABLE READ transaction):
the file is the orders as they were when the export began.
"""

import csv
import io
from datetime import UTC, datetime

from . import pagination, replica
from .db import query, transaction

BATCH = 1000
COLUMNS = (
    "order_id",
    "tracking_number",
    "status",
    "customer_id",
    "assigned_to",
    "pickup_address",
    "delivery_address",
    "recipient_name",
    "recipient_phone",
    "description",
    "weight_kg",
    "created_at",
    "updated_at",
    "closed_at",
)
KEY = ("o.created_at", "o.order_id")
# A spreadsheet runs a cell that starts with one of these as a formula: such a cell gets a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """One value as CSV text: times ISO 8601 UTC, NULL empty, formula-like text defused."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _batches(where, args, batch_size):
    """The matching orders, `batch_size` rows at a time, each batch continuing after the last one's key."""
    columns = ", ".join(f"o.{name}" for name in COLUMNS)
    after = None
    while True:
        after_sql, after_args = pagination.keyset(KEY, False, after)
        rows = query(
            f"SELECT {columns} FROM orders o WHERE {' AND '.join(where)} AND {after_sql}"
            f" ORDER BY {pagination.order_by(KEY, False)} LIMIT %s",
            (*args, *after_args, batch_size),
        )
        if rows:
            yield rows
        if len(rows) < batch_size:
            return
        after = [rows[-1]["created_at"], rows[-1]["order_id"]]


def csv_chunks(where, args, batch_size=BATCH):
    """The CSV text: the header row, then one chunk per batch of orders. Needs an app context."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    # One snapshot for every batch, on the read replica when there is a healthy one.
    with replica.reads(), transaction():
        for rows in _batches(where, args, batch_size):
            for row in rows:
                writer.writerow([cell(row[name]) for name in COLUMNS])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():  # no orders at all: the header alone
        yield out.getvalue()


def filename():
    return f"orders-{datetime.now(UTC):%Y%m%d}.csv"
