"""Keyset pagination: ?limit= and an opaque ?cursor=, with sorting from an allow-list."""

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime

from flask import request

from .errors import bad_request

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# What a cursor looks like: unpadded URL-safe base64 (the document publishes the pattern).
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"


@dataclass
class Page:
    limit: int
    sort: str
    after: list | None


def _limit():
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not re.fullmatch("[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        problem = f"must be a whole number from 1 to {MAX_LIMIT}"
        raise bad_request(f"limit {problem}", "invalid_query", {"limit": problem})
    return int(raw)


def _encode(sort, values):
    raw = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps([sort, raw]).encode()).decode().rstrip("=")


def _decode(cursor, sort, types):
    try:
        if len(cursor) > 1000 or not re.fullmatch(CURSOR_PATTERN, cursor):
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, values = json.loads(base64.urlsafe_b64decode(padded))
        if cursor_sort != sort or len(values) != len(types):
            raise ValueError
        decoded = []
        for value, kind in zip(values, types, strict=True):
            if kind is datetime:
                decoded.append(datetime.fromisoformat(value) if value is not None else None)
            elif kind is int:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError
                decoded.append(value)
            else:
                decoded.append(value)
        return decoded
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, json.JSONDecodeError):
        problem = "is not a cursor this list gave out (for this sort order)"
        raise bad_request(f"cursor {problem}", "invalid_cursor", {"cursor": problem}) from None


def page_args(sorts, default_sort):
    """Read limit, sort and cursor; `sorts` maps each allowed sort name to its key columns' types."""
    sort = request.args.get("sort") or default_sort
    if sort not in sorts:
        problem = "must be one of: " + ", ".join(sorts)
        raise bad_request(f"sort {problem}", "invalid_query", {"sort": problem})
    cursor = request.args.get("cursor")
    after = _decode(cursor, sort, sorts[sort]) if cursor else None
    return Page(_limit(), sort, after)


def keyset(columns, descending, after):
    """A WHERE fragment that continues after the row whose key is `after`; columns are from an allow-list."""
    if after is None:
        return "1=1", []
    op = "<" if descending else ">"
    if len(columns) == 1:
        return f"{columns[0]} {op} %s", [after[0]]
    first, second = columns
    return (
        f"({first} {op} %s OR ({first} = %s AND {second} {op} %s))",
        [after[0], after[0], after[1]],
    )


def order_by(columns, descending):
    direction = " DESC" if descending else ""
    return ", ".join(column + direction for column in columns)


def finish(rows, page, key):
    """Cut the extra row fetched to know whether there is a next page; return (rows, next_cursor)."""
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        return rows, _encode(page.sort, key(rows[-1]))
    return rows, None
