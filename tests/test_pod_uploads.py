"""Photo and signature proof of delivery: multipart uploads checked by their bytes, re-encoded without EXIF,
stored by the local backend, what POD_REQUIRE asks of Delivered, and who may fetch the proof."""

import hashlib
import io

import pytest
from helpers import assert_error, count, events, order_row
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from courier import pod_files

SIGNATURE_SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="200" height="80" viewBox="0 0 200 80"'
    b' style="background:url(http://evil.test/x)" data-pad="v2"><title>Signed</title>'
    b'<path d="M10 60 C 40 10, 65 10, 95 60" stroke="black" fill="none" stroke-width="2" class="ink"/></svg>'
)


def jpeg_with_exif(size=(64, 48)):
    """A JPEG carrying GPS position and camera make/model in its EXIF."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(size=(120, 40), mode="RGBA"):
    out = io.BytesIO()
    Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else 255).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def storage_dir(app, tmp_path):
    app.config["POD_STORAGE_DIR"] = str(tmp_path / "pod")
    return tmp_path / "pod"


@pytest.fixture
def out_for_delivery(world, orders):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    return orders.move(world.dave, order["order_id"], "Picked Up", "Out for Delivery")


def upload(client, courier, order_id, photo=None, signature=None, **fields):
    data = dict(fields)
    if photo is not None:
        data["photo"] = FileStorage(io.BytesIO(photo), "photo.jpg")
    if signature is not None:
        data["signature"] = FileStorage(io.BytesIO(signature), "signature.svg")
    return client.post(f"/delivery/orders/{order_id}/proof", headers=courier.headers, **multipart(data))


def multipart(data):
    """A multipart body in memory (the test client would spool a large one to a file it never closes)."""
    boundary, body = encode_multipart(MultiDict(data))
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_delivered_with_code_photo_and_signature(client, world, orders, out_for_delivery, sql, storage_dir):
    order_id = out_for_delivery["order_id"]
    response = upload(
        client,
        world.dave,
        order_id,
        jpeg_with_exif(),
        SIGNATURE_SVG,
        code=orders.code(order_id),
        note="At door",
    )
    assert response.status_code == 200, response.get_json()
    order = response.get_json()["order"]
    assert order["status"] == "Delivered"
    proof = order["proof"]
    assert proof["delivered"] is True and proof["proved_by"] == ["code", "photo", "signature"]
    assert [f["kind"] for f in proof["files"]] == ["photo", "signature"]
    assert events(sql, order_id, "status")[-1]["proof"] == "code,photo,signature"
    rows = sql("SELECT * FROM order_proofs WHERE order_id = %s ORDER BY proof_id", (order_id,))
    assert [(r["kind"], r["content_type"]) for r in rows] == [
        ("photo", "image/jpeg"),
        ("signature", "image/svg+xml"),
    ]
    for row, item in zip(rows, proof["files"], strict=True):
        stored = (storage_dir / row["storage_key"]).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == row["sha256"] == item["sha256"]
        assert len(stored) == row["size_bytes"] == item["size_bytes"]
    with Image.open(storage_dir / rows[0]["storage_key"]) as photo:
        assert photo.format == "JPEG" and photo.size == (64, 48)
        assert not photo.getexif() and "exif" not in photo.info  # no GPS, no camera
    svg = (storage_dir / rows[1]["storage_key"]).read_bytes()
    assert b"<path" in svg and b"style" not in svg and b"data-pad" not in svg and b"class" not in svg


def test_customer_and_admin_fetch_the_proof_others_cannot(client, world, orders, out_for_delivery):
    order_id = out_for_delivery["order_id"]
    upload(client, world.dave, order_id, jpeg_with_exif(), png(), code=orders.code(order_id))
    mine = client.get(f"/customer/orders/{order_id}/proof", headers=world.alice.headers)
    assert mine.status_code == 200
    proof = mine.get_json()["proof"]
    photo, signature = proof["files"]
    assert photo["url"] == f"/customer/orders/{order_id}/proof?file={photo['proof_id']}"
    image = client.get(photo["url"], headers=world.alice.headers)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert hashlib.sha256(image.data).hexdigest() == photo["sha256"]
    assert "default-src 'none'" in image.headers["Content-Security-Policy"]
    sig = client.get(
        f"/admin/orders/{order_id}/proof?file={signature['proof_id']}", headers=world.admin.headers
    )
    assert sig.status_code == 200 and sig.mimetype == "image/png"
    admin = client.get(f"/admin/orders/{order_id}/proof", headers=world.admin.headers).get_json()
    assert admin["proof"]["files"][0]["url"].startswith(f"/admin/orders/{order_id}/proof?file=")
    # Someone else's order, a missing file, no token, the wrong role, and the public view.
    assert_error(
        client.get(f"/customer/orders/{order_id}/proof", headers=world.bob.headers), 404, "order_not_found"
    )
    assert_error(client.get(photo["url"], headers=world.bob.headers), 404)
    assert_error(client.get(f"/admin/orders/{order_id}/proof?file=999999", headers=world.admin.headers), 404)
    assert_error(client.get(f"/admin/orders/{order_id}/proof?file=x", headers=world.admin.headers), 400)
    assert_error(client.get(f"/customer/orders/{order_id}/proof"), 401)
    assert_error(client.get(f"/admin/orders/{order_id}/proof", headers=world.dave.headers), 403)
    public = client.get(f"/track/{out_for_delivery['tracking_number']}").get_json()
    assert "proof_id" not in str(public) and "sha256" not in str(public)


def test_failed_attempt_with_a_photo_of_the_door(client, world, out_for_delivery, sql):
    order_id = out_for_delivery["order_id"]
    response = upload(client, world.dave, order_id, png(mode="L"), status="Failed Attempt", reason="refused")
    assert response.status_code == 200, response.get_json()
    order = response.get_json()["order"]
    assert order["status"] == "Failed Attempt" and order["proof"]["delivered"] is False
    assert order["proof"]["files"][0]["status"] == "Failed Attempt"
    assert order["proof"]["files"][0]["content_type"] == "image/jpeg"
    again = upload(client, world.dave, order_id, png(), status="Failed Attempt", reason="refused")
    assert_error(again, 409, "illegal_transition")  # no longer Out for Delivery
    assert count(sql, "order_proofs") == 1


def test_failed_attempt_needs_a_reason_and_takes_no_signature(client, world, out_for_delivery, sql):
    order_id = out_for_delivery["order_id"]
    assert_error(upload(client, world.dave, order_id, png(), status="Failed Attempt"), 400, "missing_fields")
    body = assert_error(
        upload(client, world.dave, order_id, None, png(), status="Failed Attempt", reason="refused"), 400
    )
    assert "signature" in body["fields"]
    assert count(sql, "order_proofs") == 0 and order_row(sql, order_id)["status"] == "Out for Delivery"


@pytest.mark.parametrize(
    "require, sent, expected",
    [
        ("code", {"photo"}, "missing code"),
        ("photo", {"signature"}, "missing photo"),
        ("photo", {"photo"}, "photo"),
        ("signature", {"photo", "signature"}, "photo,signature"),
        ("signature", {"photo"}, "missing signature"),
        ("any", set(), "missing any"),
        ("any", {"signature"}, "signature"),
        ("any", {"code"}, "code"),
    ],
)
def test_pod_require_sets_what_delivered_needs(client, app, world, orders, out_for_delivery, sql, require, sent,
                                               expected):  # fmt: skip
    app.config["POD_REQUIRE"] = require
    order_id = out_for_delivery["order_id"]
    fields = {"code": orders.code(order_id)} if "code" in sent else {}
    response = upload(
        client,
        world.dave,
        order_id,
        jpeg_with_exif() if "photo" in sent else None,
        png() if "signature" in sent else None,
        **fields,
    )
    if expected.startswith("missing"):
        body = assert_error(response, 400)
        assert body["code"] in ("missing_fields", "proof_required")
        assert order_row(sql, order_id)["status"] == "Out for Delivery" and count(sql, "order_proofs") == 0
        assert order_row(sql, order_id)["code_failures"] == 0
    else:
        assert response.status_code == 200, response.get_json()
        assert events(sql, order_id, "status")[-1]["proof"] == expected


def test_json_delivery_follows_pod_require_too(client, app, world, orders, out_for_delivery):
    app.config["POD_REQUIRE"] = "photo"
    order_id = out_for_delivery["order_id"]
    body = {"order_id": order_id, "status": "Delivered", "code": orders.code(order_id)}
    response = client.patch("/delivery/update-status", json=body, headers=world.dave.headers)
    assert_error(response, 400, "proof_required")


def test_wrong_code_is_counted_and_stores_no_file(client, world, out_for_delivery, sql):
    order_id = out_for_delivery["order_id"]
    assert_error(upload(client, world.dave, order_id, jpeg_with_exif(), code="WRONGCODE0"), 422)
    assert order_row(sql, order_id)["code_failures"] == 1
    assert count(sql, "order_proofs") == 0 and order_row(sql, order_id)["status"] == "Out for Delivery"


FAKE_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"


@pytest.mark.parametrize(
    "photo, signature, code",
    [
        (FAKE_PDF, None, "invalid_file"),  # a PDF renamed .jpg
        (b"", None, "invalid_file"),
        (b"\xff\xd8\xff\xe0 truncated jpeg", None, "invalid_file"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", None, "invalid_file"),
        (None, jpeg_with_exif(), "invalid_file"),  # a signature must be PNG or SVG
        (None, b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "unsafe_svg"),
        (
            None,
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><path d="M0 0"/></svg>',
            "unsafe_svg",
        ),
        (
            None,
            b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><path/></a></svg>',
            "unsafe_svg",
        ),  # fmt: skip
        (
            None,
            b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
            "unsafe_svg",
        ),
        (
            None,
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>',
            "invalid_file",
        ),  # fmt: skip
        (None, b"<svg><path d='M0 0'/></svg>", "invalid_file"),  # no SVG namespace
        (None, b"<svg xmlns='http://www.w3.org/2000/svg'><path", "invalid_file"),
    ],
)
def test_fake_broken_and_unsafe_files_are_refused(client, world, orders, out_for_delivery, sql, photo, signature,
                                                  code):  # fmt: skip
    order_id = out_for_delivery["order_id"]
    response = upload(client, world.dave, order_id, photo, signature, code=orders.code(order_id))
    assert_error(response, 400, code)
    assert count(sql, "order_proofs") == 0 and order_row(sql, order_id)["status"] == "Out for Delivery"


def test_oversized_file_is_413(client, app, world, orders, out_for_delivery, sql):
    app.config["POD_MAX_UPLOAD_BYTES"] = 2000
    order_id = out_for_delivery["order_id"]
    big = jpeg_with_exif((600, 600))
    assert len(big) > 2000
    body = assert_error(
        upload(client, world.dave, order_id, big, code=orders.code(order_id)), 413, "file_too_large"
    )
    assert body["max_bytes"] == 2000
    assert count(sql, "order_proofs") == 0


def test_image_bigger_than_the_pixel_limit_is_refused(client, world, orders, out_for_delivery, monkeypatch):
    monkeypatch.setattr(pod_files, "MAX_PIXELS", 100)
    order_id = out_for_delivery["order_id"]
    body = assert_error(
        upload(client, world.dave, order_id, jpeg_with_exif(), code=orders.code(order_id)), 400
    )
    assert "pixels" in body["fields"]["photo"]


def test_bad_forms_tokens_roles_and_someone_elses_order(client, world, orders, out_for_delivery, sql):
    order_id = out_for_delivery["order_id"]
    code = orders.code(order_id)
    url = f"/delivery/orders/{order_id}/proof"
    assert_error(client.post(url, json={"code": code}, headers=world.dave.headers), 400, "invalid_body")
    assert_error(
        upload(client, world.dave, order_id, jpeg_with_exif(), code=code, colour="red"), 400, "invalid_fields"
    )
    assert_error(
        upload(client, world.dave, order_id, jpeg_with_exif(), status="Picked Up"), 400, "invalid_fields"
    )
    assert_error(upload(client, world.dave, order_id, jpeg_with_exif(), note="x" * 1001, code=code), 400)
    assert_error(
        upload(client, world.dave, order_id, jpeg_with_exif(), reason="bored", status="Failed Attempt"), 400
    )
    assert_error(client.post(url, data={"code": code}, content_type="multipart/form-data"), 401)
    assert_error(upload(client, world.alice, order_id, jpeg_with_exif(), code=code), 403, "wrong_role")
    assert_error(upload(client, world.admin, order_id, jpeg_with_exif(), code=code), 403, "wrong_role")
    assert_error(upload(client, world.erin, order_id, jpeg_with_exif(), code=code), 404, "order_not_found")
    assert_error(upload(client, world.dave, 999999, jpeg_with_exif(), code=code), 404)
    assert count(sql, "order_proofs") == 0 and order_row(sql, order_id)["status"] == "Out for Delivery"


def test_sanitised_svg_keeps_the_drawing_only():
    item = pod_files.sanitise_svg(SIGNATURE_SVG)
    assert item.content_type == "image/svg+xml" and item.ext == "svg"
    text = item.data.decode()
    assert 'd="M10 60 C 40 10, 65 10, 95 60"' in text and "<title>Signed</title>" in text
    assert "url(" not in text and "data-pad" not in text


def test_local_storage_writes_whole_files(tmp_path):
    backend = pod_files.LocalStorage(tmp_path)
    backend.put("orders/1/a.png", b"abc", "image/png")
    backend.put("orders/1/a.png", b"abcd", "image/png")
    assert backend.get("orders/1/a.png") == b"abcd"
    assert [p.name for p in (tmp_path / "orders" / "1").iterdir()] == ["a.png"]  # no temporary files left


def test_a_photo_larger_than_the_json_body_limit_is_accepted(client, world, orders, out_for_delivery, sql):
    """The 1 MiB limit of JSON bodies does not apply to files: up to POD_MAX_UPLOAD_BYTES each."""
    out = io.BytesIO()
    Image.effect_noise((1200, 1200), 80).convert("RGB").save(out, "PNG")
    assert len(out.getvalue()) > 1024 * 1024
    order_id = out_for_delivery["order_id"]
    response = upload(client, world.dave, order_id, out.getvalue(), code=orders.code(order_id))
    assert response.status_code == 200, response.get_json()
    assert count(sql, "order_proofs") == 1


def test_the_tracked_order_carries_its_proof_object(client, world, orders, out_for_delivery):
    order_id = out_for_delivery["order_id"]
    before = client.get(f"/customer/track-order/{order_id}", headers=world.alice.headers).get_json()
    assert before["order"]["proof"] == {
        "delivered": False,
        "delivered_at": None,
        "proved_by": [],
        "files": [],
    }
    upload(client, world.dave, order_id, jpeg_with_exif(), png(), code=orders.code(order_id))
    tracked = client.get(f"/customer/track-order/{order_id}", headers=world.alice.headers)
    assert tracked.status_code == 200
    proof = tracked.get_json()["order"]["proof"]
    listed = client.get(f"/customer/orders/{order_id}/proof", headers=world.alice.headers).get_json()["proof"]
    assert proof == listed  # the same object as GET .../proof
    assert proof["delivered"] is True and proof["delivered_at"] is not None
    assert [f["kind"] for f in proof["files"]] == ["photo", "signature"]
    assert all(len(f["sha256"]) == 64 for f in proof["files"])
    public = client.get(f"/track/{out_for_delivery['tracking_number']}").get_json()
    assert "proof" not in public.get("order", public) or "files" not in str(public)
