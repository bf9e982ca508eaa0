"""Safe under concurrency: real concurrent requests (one thread and test client each, sharing the app's
connection pool of 20) racing on one order, and idempotent order placement."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from live_servers import call, start_servers

from courier.vocabulary import TRANSITIONS


def race(app, n, request):
    """Run request(client, i) in n threads released at the same moment; return the responses in order."""
    barrier = threading.Barrier(n)

    def one(i):
        client = app.test_client()
        barrier.wait(timeout=30)
        return request(client, i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def events(sql, order_id, kind=None):
    rows = sql(
        "SELECT event_id, type, status FROM order_events WHERE order_id = %s ORDER BY event_id", (order_id,)
    )
    return [r for r in rows if kind is None or r["type"] == kind]


def test_fifty_concurrent_assignments_exactly_one_wins(app, world, orders, auth, sql):
    order = orders.place(world.alice)
    oid = order["order_id"]
    couriers = [world.dave, world.erin, auth.courier(), auth.courier(), auth.courier()]

    def assign(client, i):
        body = {"order_id": oid, "delivery_person_id": couriers[i % len(couriers)].id}
        response = client.post("/admin/assign-delivery", json=body, headers=world.admin.headers)
        return response.status_code, response.get_json()

    results = race(app, 50, assign)
    codes = [code for code, _ in results]
    assert codes.count(200) == 1 and codes.count(409) == 49, codes
    winner = next(body for code, body in results if code == 200)["order"]
    for code, body in results:
        if code == 409:
            assert body["code"] == "already_assigned" and body["assigned_to"] == winner["assigned_to"]
    assigned = events(sql, oid, "assignment")
    assert [r["status"] for r in assigned] == ["Assigned"]
    row = sql("SELECT status, assigned_to FROM orders WHERE order_id = %s", (oid,), one=True)
    assert row == {"status": "Assigned", "assigned_to": winner["assigned_to"]}


@pytest.fixture
def servers(tmp_path):
    """Two real API processes on the test database, stopped (with their connections) after the test."""
    with start_servers(tmp_path, DB_POOL_SIZE=10) as started:
        yield started


def test_fifty_concurrent_assignments_across_two_processes(servers, world, orders, sql):
    """The same race over real HTTP, half the requests through each of two server processes."""
    for _ in range(3):  # a few rounds: a missing row lock shows up in most of them
        oid = orders.place(world.alice)["order_id"]
        barrier = threading.Barrier(50)

        def assign(i, oid=oid, barrier=barrier):
            port = servers["a"] if i % 2 else servers["b"]
            body = {"order_id": oid, "delivery_person_id": (world.dave, world.erin)[i % 2].id}
            barrier.wait(timeout=30)
            return call(port, "POST", "/admin/assign-delivery", world.admin, body)[0]

        with ThreadPoolExecutor(max_workers=50) as pool:
            codes = list(pool.map(assign, range(50)))
        assert codes.count(200) == 1 and codes.count(409) == 49, codes
        assert [r["status"] for r in events(sql, oid, "assignment")] == ["Assigned"]


def test_concurrent_reassignments_move_the_order_once_each(app, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)

    def reassign(client, i):
        body = {"order_id": oid, "delivery_person_id": world.erin.id, "reassign": True}
        return client.post("/admin/assign-delivery", json=body, headers=world.admin.headers).status_code

    codes = race(app, 20, reassign)
    assert codes.count(200) == 1 and codes.count(409) == 19
    assert len(events(sql, oid, "assignment")) == 2
    assert sql("SELECT assigned_to FROM orders WHERE order_id = %s", (oid,), one=True)["assigned_to"] == (
        world.erin.id
    )


def test_concurrent_status_updates_never_skip_or_duplicate(app, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    chain = ["Picked Up", "In Transit", "Out for Delivery", "Delivered"]
    code = orders.code(oid)

    def courier(client, i):
        """Every thread tries the whole chain in order; 409 means someone else got there first."""
        codes = []
        for status in chain:
            body = {"order_id": oid, "status": status, "code": code}
            response = client.patch("/delivery/update-status", json=body, headers=world.dave.headers)
            assert response.status_code in (200, 409), response.get_json()
            if response.status_code == 409:
                assert response.get_json()["code"] == "illegal_transition"
            codes.append(response.status_code)
        return codes

    results = race(app, 20, courier)
    # Each step of the chain succeeded exactly once, across all the threads.
    for step in range(len(chain)):
        assert [codes[step] for codes in results].count(200) == 1, (chain[step], results)
    statuses = [r["status"] for r in events(sql, oid)]
    assert statuses == ["Pending", "Assigned", *chain]
    for before, after in zip(statuses[1:], statuses[2:], strict=False):
        assert (before, after) in TRANSITIONS
    assert sql("SELECT status FROM orders WHERE order_id = %s", (oid,), one=True)["status"] == "Delivered"


def test_concurrent_competing_moves_keep_a_legal_history(app, world, orders, sql):
    """Threads pushing different next statuses at once: the history is always a legal path."""
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up")
    targets = ["In Transit", "Out for Delivery", "Delivered", "Failed Attempt"]
    code = orders.code(oid)

    def move(client, i):
        status = targets[i % len(targets)]
        body = {"order_id": oid, "status": status, "reason": "refused", "code": code}
        return status, client.patch(
            "/delivery/update-status", json=body, headers=world.dave.headers
        ).status_code

    results = race(app, 24, move)
    assert {code for _, code in results} <= {200, 409}
    statuses = [r["status"] for r in events(sql, oid)]
    assert statuses[:3] == ["Pending", "Assigned", "Picked Up"]
    for before, after in zip(statuses[2:], statuses[3:], strict=False):
        assert (before, after) in TRANSITIONS, statuses
    # Every success wrote exactly one event, and no failure wrote any.
    assert len(statuses) - 3 == sum(code == 200 for _, code in results)
    stored = sql("SELECT status FROM orders WHERE order_id = %s", (oid,), one=True)["status"]
    assert stored == statuses[-1]


def test_concurrent_cancel_and_pickup_only_one_wins(app, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)

    def act(client, i):
        if i % 2:
            return "cancel", client.post(
                f"/customer/cancel-order/{oid}", headers=world.alice.headers
            ).status_code
        body = {"order_id": oid, "status": "Picked Up"}
        return "pickup", client.patch(
            "/delivery/update-status", json=body, headers=world.dave.headers
        ).status_code

    results = race(app, 20, act)
    assert sum(code == 200 for _, code in results) == 1
    assert all(code == 409 for _, code in results if code != 200)
    winner = next(kind for kind, code in results if code == 200)
    statuses = [r["status"] for r in events(sql, oid)]
    assert statuses == ["Pending", "Assigned", "Cancelled" if winner == "cancel" else "Picked Up"]


# ---------------------------------------------------------------------------------------------
# Idempotent order placement
# ---------------------------------------------------------------------------------------------

BODY = {"delivery_address": "9 Far Road", "recipient_name": "Kim", "weight_kg": 1.5}


def order_count(sql):
    return sql("SELECT COUNT(*) AS n FROM orders", one=True)["n"]


def test_concurrent_place_order_with_one_key_creates_one_order(app, world, sql):
    def place(client, i):
        headers = {**world.alice.headers, "Idempotency-Key": "same-key-1"}
        response = client.post("/customer/place-order", json=BODY, headers=headers)
        return response.status_code, response.get_json(), response.headers.get("Idempotent-Replayed")

    results = race(app, 20, place)
    assert {code for code, _, _ in results} == {201}
    ids = {body["order"]["order_id"] for _, body, _ in results}
    assert len(ids) == 1
    assert [replayed for _, _, replayed in results].count(None) == 1  # one created, the rest replayed
    assert order_count(sql) == 1
    (oid,) = ids
    assert [r["type"] for r in events(sql, oid)] == ["created"]


def test_same_key_and_body_returns_the_original_and_creates_nothing(client, world, sql):
    headers = {**world.alice.headers, "Idempotency-Key": "retry-me"}
    first = client.post("/customer/place-order", json=BODY, headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post("/customer/place-order", json=dict(reversed(BODY.items())), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["order"] == first.get_json()["order"]
    assert order_count(sql) == 1
    assert len(events(sql, first.get_json()["order"]["order_id"])) == 1


def test_same_key_with_another_body_is_409(client, world, sql):
    headers = {**world.alice.headers, "Idempotency-Key": "k-2"}
    assert client.post("/customer/place-order", json=BODY, headers=headers).status_code == 201
    changed = client.post("/customer/place-order", json={**BODY, "weight_kg": 2}, headers=headers)
    assert changed.status_code == 409
    assert changed.get_json()["code"] == "idempotency_key_reused"
    assert order_count(sql) == 1


def test_idempotency_keys_belong_to_one_customer(client, world, sql):
    for user in (world.alice, world.bob):
        headers = {**user.headers, "Idempotency-Key": "shared-key"}
        response = client.post("/customer/place-order", json=BODY, headers=headers)
        assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
        assert response.get_json()["order"]["customer_id"] == user.id
    assert order_count(sql) == 2
    # Without a key, each request is a new order.
    for _ in range(2):
        assert client.post("/customer/place-order", json=BODY, headers=world.alice.headers).status_code == 201
    assert order_count(sql) == 4
