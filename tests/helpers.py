"""Assertions and row look-ups that several test files share."""


def count(sql, table, where="1=1", args=()):
    """Rows in a table (table and condition come from the test itself, never from input)."""
    return sql(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", args, one=True)["n"]


def order_row(sql, order_id):
    return sql("SELECT * FROM orders WHERE order_id = %s", (order_id,), one=True)


def events(sql, order_id, type_=None):
    """An order's stored events, oldest first, optionally of one type."""
    where, args = "order_id = %s", [order_id]
    if type_:
        where += " AND type = %s"
        args.append(type_)
    return sql(f"SELECT * FROM order_events WHERE {where} ORDER BY event_id", args)


def assert_error(response, status, code=None):
    """The response is the one JSON error shape with this status (and code); return its body."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    if code is not None:
        assert body["code"] == code
    return body
