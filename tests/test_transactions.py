"""One way to run a transaction (courier/db.py): re-entrant, asserted where a row lock needs one, and a
counted wrong delivery code that stays counted although its request fails."""

from types import SimpleNamespace

import pytest
from helpers import count, order_row

from courier import db, lifecycle
from courier.db import in_transaction, require_transaction, transaction


def test_an_inner_transaction_joins_the_outer_one(app, world, orders, sql):
    """Nothing commits when the inner block ends; the outer block's failure undoes both."""
    order = orders.place(world.alice)
    admin = SimpleNamespace(role="admin", id=world.admin.id)
    with app.app_context():
        with pytest.raises(RuntimeError), transaction():
            with transaction():
                db.execute("UPDATE orders SET location = 'inner' WHERE order_id = %s", (order["order_id"],))
            assert in_transaction()
            assert order_row(sql, order["order_id"])["location"] is None  # not committed by the inner block
            lifecycle.assign(order["order_id"], world.dave.id, False, admin)  # a service's own transaction
            raise RuntimeError("the outer block fails")
        assert not in_transaction()
    row = order_row(sql, order["order_id"])
    assert row["location"] is None and row["status"] == "Pending"
    assert count(sql, "order_events", "order_id = %s", (order["order_id"],)) == 1


def test_nested_blocks_commit_once_at_the_outermost_end(app, world, orders, sql):
    order = orders.place(world.alice)
    with app.app_context():
        with transaction():
            with transaction():
                db.execute("UPDATE orders SET location = 'a' WHERE order_id = %s", (order["order_id"],))
            db.execute(
                "UPDATE orders SET location = CONCAT(location, 'b') WHERE order_id = %s", (order["order_id"],)
            )
        assert not in_transaction()
    assert order_row(sql, order["order_id"])["location"] == "ab"


def test_a_row_lock_outside_a_transaction_is_refused(app, world, orders):
    order = orders.place(world.alice)
    with app.app_context():
        with pytest.raises(RuntimeError, match="inside db.transaction"):
            lifecycle.lock_order(order["order_id"])
        with pytest.raises(RuntimeError):
            require_transaction()
        with transaction():
            assert lifecycle.lock_order(order["order_id"])["order_id"] == order["order_id"]


def test_a_wrong_code_stays_counted_although_the_answer_is_422(client, world, orders, sql):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")
    response = client.post(
        "/delivery/confirm-delivery",
        json={"order_id": order["order_id"], "code": "WRONGCODE0"},
        headers=world.dave.headers,
    )
    assert response.status_code == 422 and response.get_json()["code"] == "wrong_code"
    row = order_row(sql, order["order_id"])
    assert row["code_failures"] == 1 and row["status"] == "Out for Delivery"
