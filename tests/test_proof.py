"""QR proof of delivery: the delivery code, its QR code, the courier's check, the lock
after too many wrong codes, and the admin's unlock and override."""

import hashlib
import io
import re
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import segno
from helpers import assert_error, count, events, order_row

from courier import proof

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{10}$")  # Crockford base32: no I, L, O, U
ADMIN_ROUTES = ("/admin/override-delivery/{}", "/admin/unlock-delivery/{}")
CUSTOMER_ROUTES = (
    "/customer/orders/{}/qr",
    "/customer/orders/{}/qr.svg",
    "/customer/orders/{}/delivery-code",
)


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def at_door(world, orders):
    """Alice's order, carried by Dave, Out for Delivery."""
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up", "Out for Delivery")
    return oid


def customer_code(client, customer, oid):
    """The code the customer reads from GET /customer/orders/<id>/delivery-code."""
    response = client.get(f"/customer/orders/{oid}/delivery-code", headers=customer.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["code"]


def deliver(client, courier, oid, code, via="update-status", **extra):
    if via == "update-status":
        body = {"order_id": oid, "status": "Delivered", "code": code, **extra}
        return client.patch("/delivery/update-status", json=body, headers=courier.headers)
    body = {"order_id": oid, "code": code, **extra}
    return client.post("/delivery/confirm-delivery", json=body, headers=courier.headers)


def wrong_code_for(code):
    """A well-formed code that is not `code`."""
    return ("1" if code[0] != "1" else "2") + code[1:]


def override(client, admin, oid, **body):
    return client.post(f"/admin/override-delivery/{oid}", json=body, headers=admin.headers)


def unlock(client, admin, oid, **body):
    return client.post(f"/admin/unlock-delivery/{oid}", json=body, headers=admin.headers)


def lock(client, world, oid, code):
    """Send POD_MAX_FAILURES (5) wrong codes; return the last answer."""
    for _ in range(5):
        response = deliver(client, world.dave, oid, wrong_code_for(code))
    return response


def png_modules(data, scale, border):
    """Decode a 1-bit greyscale PNG (segno's output) into QR modules: rows of 1 (dark) and 0 (light)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, {}, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        chunks[kind] = body
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert b"IEND" in chunks
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (1, 0) and width == height
    raw, stride = zlib.decompress(idat), (width + 7) // 8
    rows, previous = [], bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        assert kind in (0, 2), kind  # none or up: all segno writes for 1-bit images
        if kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous, strict=True))
        rows.append(row)
        previous = row
    size = width // scale - 2 * border

    def dark(x, y):
        bit = (rows[y][x // 8] >> (7 - x % 8)) & 1
        return 0 if bit else 1  # greyscale: 0 is black

    half = scale // 2
    for x in range(width):  # the quiet zone is light
        assert not dark(x, half) and not dark(half, x)
    return [
        [dark((border + c) * scale + half, (border + r) * scale + half) for c in range(size)]
        for r in range(size)
    ]


def segno_matrix(code):
    return [list(row) for row in segno.make_qr(code).matrix]


def all_stored_text(sql):
    """Every value of every table of the test database, as one string (to search for a secret in it)."""
    tables = sql(
        "SELECT table_name AS name FROM information_schema.tables"
        " WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
    )
    return "\n".join(str(row) for t in tables for row in sql(f"SELECT * FROM `{t['name']}`"))


# --------------------------------------------------------------------------------------------
# The code and its QR code
# --------------------------------------------------------------------------------------------


def test_delivery_code_is_a_crockford_code_stored_only_as_its_hash(client, world, orders, sql):
    oid = orders.place(world.alice)["order_id"]
    response = client.get(f"/customer/orders/{oid}/delivery-code", headers=world.alice.headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    row = order_row(sql, oid)
    assert body == {
        "order_id": oid,
        "tracking_number": row["tracking_number"],
        "code": body["code"],
        "qr_url": f"/customer/orders/{oid}/qr",
    }
    assert CODE.match(body["code"])
    assert row["delivery_code_hash"] == hashlib.sha256(body["code"].encode()).hexdigest()
    assert row["code_failures"] == 0 and row["delivery_locked_at"] is None
    assert body["code"] not in all_stored_text(sql)
    # The same code every time (the QR code can be drawn again), and the helper agrees.
    assert customer_code(client, world.alice, oid) == body["code"] == orders.code(oid)


def test_codes_differ_between_orders_and_keys(app, client, world, orders):
    codes = {customer_code(client, world.alice, orders.place(world.alice)["order_id"]) for _ in range(8)}
    assert len(codes) == 8
    number = "CT0123456789ABCDEF"
    base = {"JWT_SECRET_KEY": "a" * 48, "DELIVERY_CODE_KEY": ""}
    derived = proof.delivery_code(number, base)
    assert CODE.match(derived) and derived == proof.delivery_code(number, dict(base))
    assert derived != proof.delivery_code(number, {**base, "JWT_SECRET_KEY": "b" * 48})
    assert derived != proof.delivery_code(number, {**base, "DELIVERY_CODE_KEY": "a" * 48})
    assert derived != proof.delivery_code("CT0123456789ABCDEG", base)


def test_qr_png_encodes_exactly_the_code(client, world, orders):
    oid = orders.place(world.alice)["order_id"]
    code = customer_code(client, world.alice, oid)
    response = client.get(f"/customer/orders/{oid}/qr", headers=world.alice.headers)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_data()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    expected = segno_matrix(code)
    assert width == height == (len(expected) + 2 * proof.QR_BORDER) * proof.QR_SCALE
    assert png_modules(data, proof.QR_SCALE, proof.QR_BORDER) == expected
    # ... and not the matrix of anything else (another order's code, the tracking number).
    other = customer_code(client, world.alice, orders.place(world.alice)["order_id"])
    assert png_modules(data, proof.QR_SCALE, proof.QR_BORDER) != segno_matrix(other)
    assert client.get(f"/customer/orders/{oid}/qr?format=png", headers=world.alice.headers).get_data() == data


def test_qr_svg_is_segnos_drawing_of_the_code(client, world, orders):
    oid = orders.place(world.alice)["order_id"]
    code = customer_code(client, world.alice, oid)
    response = client.get(f"/customer/orders/{oid}/qr.svg", headers=world.alice.headers)
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "no-store"
    expected = io.BytesIO()
    segno.make_qr(code).save(expected, kind="svg", scale=proof.QR_SCALE, border=proof.QR_BORDER)
    assert response.get_data() == expected.getvalue()
    assert b"<script" not in response.get_data()


@pytest.mark.parametrize("fmt", ["gif", "jpeg", ""])
def test_qr_unknown_format_is_400(client, world, orders, fmt):
    """/qr answers one media type, PNG (the SVG has its own route): any other ?format= is a 400."""
    oid = orders.place(world.alice)["order_id"]
    response = client.get(f"/customer/orders/{oid}/qr?format={fmt}", headers=world.alice.headers)
    assert "format" in assert_error(response, 400)["fields"]


def test_qr_format_svg_redirects_to_the_svg_route(client, world, orders):
    """Older clients asked /qr?format=svg: they are sent to /qr.svg, which gives the same drawing."""
    oid = orders.place(world.alice)["order_id"]
    response = client.get(f"/customer/orders/{oid}/qr?format=svg", headers=world.alice.headers)
    assert response.status_code == 307
    assert response.headers["Location"].endswith(f"/customer/orders/{oid}/qr.svg")
    followed = client.get(
        f"/customer/orders/{oid}/qr?format=svg", headers=world.alice.headers, follow_redirects=True
    )
    assert followed.status_code == 200 and followed.mimetype == "image/svg+xml"
    assert followed.data == client.get(f"/customer/orders/{oid}/qr.svg", headers=world.alice.headers).data


@pytest.mark.parametrize("url", CUSTOMER_ROUTES)
def test_customer_routes_need_the_owner(client, world, orders, url):
    oid = orders.place(world.alice)["order_id"]
    assert_error(client.get(url.format(oid)), 401)
    for other in (world.admin, world.dave):
        assert_error(client.get(url.format(oid), headers=other.headers), 403, "wrong_role")
    assert_error(client.get(url.format(oid), headers=world.bob.headers), 404, "order_not_found")
    assert_error(client.get(url.format(999999), headers=world.alice.headers), 404, "order_not_found")


# --------------------------------------------------------------------------------------------
# The courier sets Delivered with the code
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["update-status", "confirm-delivery"])
def test_right_code_delivers_and_the_event_records_the_proof(client, world, sql, at_door, via):
    code = customer_code(client, world.alice, at_door)
    response = deliver(client, world.dave, at_door, code, via=via, note="Handed over", location="Door")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == (
        "Status updated successfully" if via == "update-status" else "Delivery confirmed"
    )
    assert body["order"]["status"] == "Delivered" and body["order"]["closed_at"]
    row = order_row(sql, at_door)
    assert row["status"] == "Delivered" and row["closed_at"] is not None and row["code_failures"] == 0
    assert row["delivery_code_hash"] == hashlib.sha256(code.encode()).hexdigest()
    last = events(sql, at_door)[-1]
    assert (last["type"], last["status"], last["proof"]) == ("status", "Delivered", "code")
    assert (last["actor_role"], last["actor_id"]) == ("delivery_person", world.dave.id)
    assert (last["note"], last["location"]) == ("Handed over", "Door")
    assert code not in all_stored_text(sql)
    # Every view of the timeline shows how, and (its time) when, delivery was proven.
    tracked = client.get(f"/customer/track-order/{at_door}", headers=world.alice.headers).get_json()
    assert tracked["events"][-1]["proof"] == "code" and tracked["events"][-1]["at"]
    assert {e["proof"] for e in tracked["events"][:-1]} == {None}
    public = client.get(f"/track/{row['tracking_number']}").get_json()
    assert public["events"][-1]["proof"] == "code" and public["events"][-1]["status"] == "Delivered"
    # Delivered is final: the code cannot be used again.
    assert_error(deliver(client, world.dave, at_door, code, via=via), 409, "illegal_transition")


@pytest.mark.parametrize(
    "variant",
    [
        lambda c: c.lower(),
        lambda c: f"{c[:5]}-{c[5:]}",
        lambda c: f"  {c[:3]} {c[3:6]} {c[6:]}  ",
        lambda c: c.replace("0", "o").replace("1", "l"),
        lambda c: c.replace("1", "I").lower(),
    ],
    ids=["lower", "hyphen", "spaces", "o-and-l", "i"],
)
def test_code_is_normalised(client, world, sql, at_door, variant):
    code = customer_code(client, world.alice, at_door)
    response = deliver(client, world.dave, at_door, variant(code), via="confirm-delivery")
    assert response.status_code == 200, (variant(code), response.get_json())
    assert order_row(sql, at_door)["status"] == "Delivered"


def test_order_without_a_stored_hash_gets_it_on_first_use(client, world, sql, at_door):
    """Orders from seed.sql or gen-data have no hash yet: it is derived and stored when a code is checked."""
    sql("UPDATE orders SET delivery_code_hash = NULL WHERE order_id = %s", (at_door,))
    code = customer_code(client, world.alice, at_door)
    assert_error(deliver(client, world.dave, at_door, wrong_code_for(code)), 422, "wrong_code")
    assert order_row(sql, at_door)["delivery_code_hash"] == hashlib.sha256(code.encode()).hexdigest()
    assert deliver(client, world.dave, at_door, code).status_code == 200


@pytest.mark.parametrize(
    "via, body",
    [
        ("update-status", {}),
        ("update-status", {"code": None}),
        ("update-status", {"code": "   "}),
        ("update-status", {"code": ""}),
        ("confirm-delivery", {}),
        ("confirm-delivery", {"code": ""}),
        ("confirm-delivery", {"code": None}),
        ("confirm-delivery", {"code": 1234567890}),
    ],
)
def test_missing_code_is_400_and_changes_nothing(client, world, sql, at_door, via, body):
    before, before_events = order_row(sql, at_door), events(sql, at_door)
    if via == "update-status":
        response = client.patch(
            "/delivery/update-status",
            json={"order_id": at_door, "status": "Delivered", **body},
            headers=world.dave.headers,
        )
    else:
        response = client.post(
            "/delivery/confirm-delivery", json={"order_id": at_door, **body}, headers=world.dave.headers
        )
    result = assert_error(response, 400)
    assert "code" in result["fields"]
    assert order_row(sql, at_door) == before and events(sql, at_door) == before_events


def test_update_status_without_code_names_the_field(client, world, at_door):
    response = client.patch(
        "/delivery/update-status",
        json={"order_id": at_door, "status": "Delivered"},
        headers=world.dave.headers,
    )
    result = assert_error(response, 400, "missing_fields")
    assert result["fields"] == {"code": "required to set Delivered: scan the customer's QR code"}


@pytest.mark.parametrize("scanned", ["https://example.com/x", "ABC", "000000", "UUUUUUUUUU", "7K3M9QX2PD7"])
def test_something_that_cannot_be_a_code_is_a_wrong_code_too(client, world, sql, at_door, scanned):
    result = assert_error(deliver(client, world.dave, at_door, scanned), 422, "wrong_code")
    assert result["attempts_left"] == 4
    row = order_row(sql, at_door)
    assert (row["status"], row["code_failures"]) == ("Out for Delivery", 1)


@pytest.mark.parametrize("via", ["update-status", "confirm-delivery"])
def test_wrong_code_is_422_counted_and_committed(client, world, sql, at_door, via):
    code = customer_code(client, world.alice, at_door)
    before_events = events(sql, at_door)
    result = assert_error(
        deliver(client, world.dave, at_door, wrong_code_for(code), via=via), 422, "wrong_code"
    )
    assert result["attempts_left"] == 4 and result["locked"] is False
    assert "code" in result["fields"]
    # The sql fixture reads through its own connection: the count was committed.
    row = order_row(sql, at_door)
    assert row["status"] == "Out for Delivery" and row["closed_at"] is None
    assert row["code_failures"] == 1 and row["delivery_locked_at"] is None
    assert events(sql, at_door) == before_events
    second = assert_error(deliver(client, world.dave, at_door, wrong_code_for(code)), 422, "wrong_code")
    assert second["attempts_left"] == 3 and order_row(sql, at_door)["code_failures"] == 2
    # A right code still works, and does not clear the record of the wrong ones.
    assert deliver(client, world.dave, at_door, code, via=via).status_code == 200
    assert order_row(sql, at_door)["code_failures"] == 2


def test_five_wrong_codes_lock_the_order(client, world, sql, at_door):
    code = customer_code(client, world.alice, at_door)
    for attempt in range(1, 5):
        result = assert_error(deliver(client, world.dave, at_door, wrong_code_for(code)), 422, "wrong_code")
        assert (result["attempts_left"], result["locked"]) == (5 - attempt, False)
    assert order_row(sql, at_door)["delivery_locked_at"] is None
    fifth = assert_error(deliver(client, world.dave, at_door, wrong_code_for(code)), 422, "wrong_code")
    assert fifth["attempts_left"] == 0 and fifth["locked"] is True
    row = order_row(sql, at_door)
    assert row["code_failures"] == 5 and row["delivery_locked_at"] is not None
    assert row["status"] == "Out for Delivery"
    locked = events(sql, at_door, "locked")
    assert len(locked) == 1
    assert locked[0]["status"] == "Out for Delivery" and locked[0]["proof"] is None
    assert locked[0]["note"] == "Locked after 5 wrong delivery codes: an admin must review"
    assert (locked[0]["actor_role"], locked[0]["actor_id"]) == ("delivery_person", world.dave.id)
    # Now even the right code is refused, through both endpoints, and nothing more is counted.
    before_events = events(sql, at_door)
    for via in ("update-status", "confirm-delivery"):
        assert_error(deliver(client, world.dave, at_door, code, via=via), 409, "delivery_locked")
        assert_error(
            deliver(client, world.dave, at_door, wrong_code_for(code), via=via), 409, "delivery_locked"
        )
    assert order_row(sql, at_door) == row and events(sql, at_door) == before_events
    # The timeline shows the lock to the customer.
    tracked = client.get(f"/customer/track-order/{at_door}", headers=world.alice.headers).get_json()
    assert tracked["events"][-1]["type"] == "locked"


def test_lock_limit_is_configurable(app, client, world, sql, at_door):
    app.config["POD_MAX_FAILURES"] = 2
    code = customer_code(client, world.alice, at_door)
    assert assert_error(deliver(client, world.dave, at_door, wrong_code_for(code)), 422)["attempts_left"] == 1
    assert assert_error(deliver(client, world.dave, at_door, wrong_code_for(code)), 422)["locked"] is True
    assert events(sql, at_door, "locked")[0]["note"].startswith("Locked after 2 wrong delivery codes")


def test_concurrent_wrong_codes_lock_exactly_once(app, world, sql, at_door, orders):
    """Wrong codes racing on one order: each is counted once, the lock comes once, the rest get 409."""
    code = orders.code(at_door)
    n = 10
    barrier = threading.Barrier(n)

    def one(i):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = deliver(client, world.dave, at_door, wrong_code_for(code))
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [409] * 5 + [422] * 5, results
    assert sorted(body["attempts_left"] for status, body in results if status == 422) == [0, 1, 2, 3, 4]
    assert order_row(sql, at_door)["code_failures"] == 5
    assert len(events(sql, at_door, "locked")) == 1


def test_courier_endpoints_refuse_other_couriers_and_roles(client, world, sql, orders, at_door):
    code = customer_code(client, world.alice, at_door)
    before, before_events = order_row(sql, at_door), events(sql, at_door)
    for via in ("update-status", "confirm-delivery"):
        assert_error(deliver(client, world.erin, at_door, code, via=via), 404, "order_not_found")
        assert_error(deliver(client, world.erin, at_door, wrong_code_for(code), via=via), 404)
        assert_error(deliver(client, world.dave, 999999, code, via=via), 404, "order_not_found")
        for caller in (world.admin, world.alice):
            assert_error(deliver(client, caller, at_door, code, via=via), 403, "wrong_role")
    anonymous = client.post("/delivery/confirm-delivery", json={"order_id": at_door, "code": code})
    assert_error(anonymous, 401)
    assert order_row(sql, at_door) == before and events(sql, at_door) == before_events


def test_confirm_delivery_before_out_for_delivery_is_409_and_not_counted(client, world, sql, orders):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    orders.move(world.dave, oid, "Picked Up")
    code = customer_code(client, world.alice, oid)
    for attempt in (code, wrong_code_for(code)):
        result = assert_error(deliver(client, world.dave, oid, attempt, via="confirm-delivery"), 409)
        assert result["code"] == "illegal_transition" and result["current_status"] == "Picked Up"
    row = order_row(sql, oid)
    assert row["status"] == "Picked Up" and row["code_failures"] == 0


# --------------------------------------------------------------------------------------------
# The admin: unlock and override
# --------------------------------------------------------------------------------------------


def test_admin_unlock_then_right_code_works(client, world, sql, at_door):
    code = customer_code(client, world.alice, at_door)
    lock(client, world, at_door, code)
    response = unlock(client, world.admin, at_door, reason="  Spoke to the courier  ")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "Delivery code unlocked" and body["order"]["status"] == "Out for Delivery"
    row = order_row(sql, at_door)
    assert (
        row["code_failures"] == 0
        and row["delivery_locked_at"] is None
        and row["status"] == "Out for Delivery"
    )
    unlocked = events(sql, at_door, "unlocked")
    assert len(unlocked) == 1
    assert (
        unlocked[0]["status"] == "Out for Delivery"
        and unlocked[0]["note"] == "Delivery code unlocked: Spoke to the courier"
    )
    assert (unlocked[0]["actor_role"], unlocked[0]["actor_id"]) == ("admin", world.admin.id)
    # A fresh count of attempts, then the right code delivers.
    result = assert_error(deliver(client, world.dave, at_door, wrong_code_for(code)), 422)
    assert result["attempts_left"] == 4
    assert deliver(client, world.dave, at_door, code).status_code == 200
    assert events(sql, at_door)[-1]["proof"] == "code"


def test_unlock_without_a_reason_records_a_default_note(client, world, sql, at_door):
    lock(client, world, at_door, customer_code(client, world.alice, at_door))
    response = client.post(f"/admin/unlock-delivery/{at_door}", headers=world.admin.headers)
    assert response.status_code == 200, response.get_json()
    assert events(sql, at_door, "unlocked")[0]["note"] == "Delivery code unlocked by an admin"


def test_unlock_an_order_that_is_not_locked_is_409(client, world, sql, at_door):
    code = customer_code(client, world.alice, at_door)
    deliver(client, world.dave, at_door, wrong_code_for(code))
    result = assert_error(unlock(client, world.admin, at_door), 409, "not_locked")
    assert result["code_failures"] == 1
    assert order_row(sql, at_door)["code_failures"] == 1
    assert count(sql, "order_events", "order_id = %s AND type = 'unlocked'", (at_door,)) == 0


def test_admin_override_delivers_a_locked_order_with_a_reason(client, world, sql, at_door):
    lock(client, world, at_door, customer_code(client, world.alice, at_door))
    response = override(client, world.admin, at_door, reason="Recipient confirmed by phone")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "Order marked as delivered" and body["order"]["status"] == "Delivered"
    row = order_row(sql, at_door)
    assert row["status"] == "Delivered" and row["closed_at"] is not None
    last = events(sql, at_door)[-1]
    assert (last["type"], last["status"], last["proof"]) == ("status", "Delivered", "admin_override")
    assert last["note"] == "Delivered by admin override: Recipient confirmed by phone"
    assert (last["actor_role"], last["actor_id"]) == ("admin", world.admin.id)
    tracked = client.get(f"/customer/track-order/{at_door}", headers=world.alice.headers).get_json()
    assert tracked["events"][-1]["proof"] == "admin_override"
    public = client.get(f"/track/{row['tracking_number']}").get_json()
    assert public["events"][-1]["proof"] == "admin_override"
    assert "Recipient confirmed" not in str(public)  # notes are not public
    # Once Delivered, neither override nor unlock applies.
    assert_error(override(client, world.admin, at_door, reason="again"), 409, "illegal_transition")
    assert_error(unlock(client, world.admin, at_door), 409, "order_closed")


def test_admin_override_works_without_a_lock(client, world, sql, at_door):
    assert override(client, world.admin, at_door, reason="Left with neighbour").status_code == 200
    assert events(sql, at_door)[-1]["proof"] == "admin_override"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}, {"reason": 5}])
def test_admin_override_needs_a_reason(client, world, sql, at_door, body):
    before, before_events = order_row(sql, at_door), events(sql, at_door)
    result = assert_error(override(client, world.admin, at_door, **body), 400)
    assert "reason" in result["fields"]
    assert order_row(sql, at_door) == before and events(sql, at_door) == before_events


def test_admin_override_without_a_body_is_400(client, world, at_door):
    assert_error(client.post(f"/admin/override-delivery/{at_door}", headers=world.admin.headers), 400)


@pytest.mark.parametrize("moves", [[], ["Picked Up"], ["Picked Up", "Out for Delivery", "Failed Attempt"]])
def test_admin_override_only_out_for_delivery(client, world, sql, orders, moves):
    oid = orders.place(world.alice)["order_id"]
    orders.assign(world.admin, oid, world.dave)
    if moves:
        orders.move(world.dave, oid, *moves)
    before, before_events = order_row(sql, oid), events(sql, oid)
    result = assert_error(override(client, world.admin, oid, reason="x"), 409, "illegal_transition")
    assert result["current_status"] == before["status"]
    assert order_row(sql, oid) == before and events(sql, oid) == before_events


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_admin_routes_need_an_admin(client, world, sql, at_door, route):
    lock(client, world, at_door, customer_code(client, world.alice, at_door))
    before, before_events = order_row(sql, at_door), events(sql, at_door)
    body = {"reason": "Checked"}
    assert_error(client.post(route.format(at_door), json=body), 401)
    for caller in (world.alice, world.dave):
        assert_error(client.post(route.format(at_door), json=body, headers=caller.headers), 403, "wrong_role")
    assert_error(
        client.post(route.format(999999), json=body, headers=world.admin.headers), 404, "order_not_found"
    )
    assert order_row(sql, at_door) == before and events(sql, at_door) == before_events
