"""Shipping labels: 4x6 inch PDF pages whose Code 128 and QR code zbar reads back, ZPL II by its rules, the
batch of many orders, and who may print whose label."""

import re

import pypdfium2
import pytest
from helpers import assert_error
from pyzbar import pyzbar

from courier import labels

POINTS_4X6 = (288.0, 432.0)


def render(pdf_bytes, page=0, dpi=200):
    """One page of a PDF as a PIL image (PDFium), as a scanner would see a printed label."""
    document = pypdfium2.PdfDocument(pdf_bytes)
    try:
        return document[page].render(scale=dpi / 72).to_pil()
    finally:
        document.close()


def barcodes(image):
    """{symbology: [decoded text]} of every barcode zbar finds on the image."""
    found = {}
    for symbol in pyzbar.decode(image):
        found.setdefault(symbol.type, []).append(symbol.data.decode())
    return found


def page_sizes(pdf_bytes):
    document = pypdfium2.PdfDocument(pdf_bytes)
    try:
        return [tuple(round(v, 1) for v in document[i].get_size()) for i in range(len(document))]
    finally:
        document.close()


@pytest.fixture
def order(world, orders):
    return orders.place(
        world.alice,
        recipient_name="Rita Recipient",
        delivery_address="12 Long Lane, Springfield",
        recipient_phone="+1 555 0199",
        weight_kg=2.5,
    )


def test_admin_label_is_a_4x6_pdf_whose_barcodes_decode(client, world, order, app):
    response = client.get(f"/admin/orders/{order['order_id']}/label", headers=world.admin.headers)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert page_sizes(response.data) == [POINTS_4X6]
    found = barcodes(render(response.data))
    assert found["CODE128"] == [order["tracking_number"]]
    assert found["QRCODE"] == [f"{app.config['PUBLIC_BASE_URL']}/t/{order['tracking_number']}"]


def test_label_text_has_sender_recipient_weight_and_date(client, world, order):
    document = pypdfium2.PdfDocument(
        client.get(f"/admin/orders/{order['order_id']}/label", headers=world.admin.headers).data
    )
    text = document[0].get_textpage().get_text_range()
    document.close()
    assert world.alice.name in text  # the sender
    assert "Rita Recipient" in text and "12 Long Lane" in text and "+1 555 0199" in text
    assert "2.5 kg" in text
    assert order["created_at"][:10] in text
    assert order["tracking_number"] in text


def test_customer_prints_own_label_not_someone_elses(client, world, order):
    mine = client.get(f"/customer/orders/{order['order_id']}/label", headers=world.alice.headers)
    assert mine.status_code == 200 and mine.mimetype == "application/pdf"
    assert_error(client.get(f"/customer/orders/{order['order_id']}/label", headers=world.bob.headers), 404)
    assert_error(client.get("/customer/orders/999999/label", headers=world.alice.headers), 404)


def test_label_needs_a_token_and_the_right_role(client, world, order):
    url = f"/admin/orders/{order['order_id']}/label"
    assert_error(client.get(url), 401)
    assert_error(client.get(url, headers=world.alice.headers), 403, "wrong_role")
    assert_error(client.get(url, headers=world.dave.headers), 403, "wrong_role")
    assert_error(client.get(f"/customer/orders/{order['order_id']}/label", headers=world.admin.headers), 403)


def test_unknown_order_and_bad_format(client, world, order):
    assert_error(
        client.get("/admin/orders/999999/label", headers=world.admin.headers), 404, "order_not_found"
    )
    body = assert_error(
        client.get(f"/admin/orders/{order['order_id']}/label?format=png", headers=world.admin.headers), 400
    )
    assert "format" in body["fields"]


def zpl_blocks(text):
    return re.findall(r"\^XA.*?\^XZ", text, re.S)


def assert_valid_zpl(text):
    """The rules a ZPL II label must follow: ^XA ... ^XZ blocks, every field opened by ^FD closed by ^FS, no
    command prefix inside field data, the page size of a 4x6 inch label at 203 dpi."""
    blocks = zpl_blocks(text)
    assert blocks and "".join(blocks).replace("\n", "") == text.replace("\n", "")
    for block in blocks:
        assert "^PW812" in block and "^LL1218" in block and "^CI28" in block
        fields = re.findall(r"\^FD(.*?)\^FS", block, re.S)
        assert len(fields) == block.count("^FD") <= block.count("^FS")  # ^GB boxes end with ^FS too
        for data in fields:
            assert "^" not in data and "~" not in data
        for command in re.findall(r"\^([A-Z][A-Z0-9@])", block):
            assert command in {"XA", "XZ", "CI", "PW", "LL", "LH", "FO", "A0", "FH", "FD", "FS", "GB", "BY", "BC",
                               "BQ"}, command  # fmt: skip
    return blocks


def test_zpl_label_follows_the_rules_and_carries_both_barcodes(client, world, order, app):
    response = client.get(f"/admin/orders/{order['order_id']}/label?format=zpl", headers=world.admin.headers)
    assert response.status_code == 200 and response.mimetype == "application/zpl"
    (block,) = assert_valid_zpl(response.get_data(as_text=True))
    assert re.search(r"\^BCN,\d+,Y,N,N\^FD>:" + order["tracking_number"] + r"\^FS", block)
    url = f"{app.config['PUBLIC_BASE_URL']}/t/{order['tracking_number']}"
    assert "^BQN,2,6^FH^FDMA," + labels.zpl_field(url) + "^FS" in block
    assert "Rita Recipient" in block and "2.5 kg" in block


def test_zpl_escapes_caret_tilde_and_non_ascii(client, world, orders):
    order = orders.place(world.alice, recipient_name="^XZ~JR Zoë_x", delivery_address="1 ^FS Road")
    text = client.get(
        f"/admin/orders/{order['order_id']}/label?format=zpl", headers=world.admin.headers
    ).get_data(as_text=True)
    (block,) = assert_valid_zpl(text)
    assert "_5EXZ_7EJR Zo_C3_AB_5Fx" in block
    assert labels.zpl_field("a^b~c_d\\é") == "a_5Eb_7Ec_5Fd_5C_C3_A9"


def test_batch_of_labels_is_one_page_per_order_in_the_order_given(client, world, orders):
    placed = [orders.place(world.alice) for _ in range(3)] + [orders.place(world.bob)]
    ids = [o["order_id"] for o in reversed(placed)]
    response = client.post("/admin/labels", json={"order_ids": ids}, headers=world.admin.headers)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert page_sizes(response.data) == [POINTS_4X6] * 4
    for page, order in enumerate(reversed(placed)):
        assert barcodes(render(response.data, page))["CODE128"] == [order["tracking_number"]]
    zpl = client.post("/admin/labels?format=zpl", json={"order_ids": ids}, headers=world.admin.headers)
    assert len(assert_valid_zpl(zpl.get_data(as_text=True))) == 4


def test_batch_refuses_bad_lists_and_names_missing_orders(client, world, orders):
    order = orders.place(world.alice)
    h = world.admin.headers
    assert_error(client.post("/admin/labels", json={}, headers=h), 400, "missing_fields")
    assert_error(client.post("/admin/labels", json={"order_ids": []}, headers=h), 400)
    assert_error(client.post("/admin/labels", json={"order_ids": [order["order_id"]] * 2}, headers=h), 400)
    assert_error(client.post("/admin/labels", json={"order_ids": ["x"]}, headers=h), 400)
    too_many = list(range(1, labels.MAX_BATCH + 2))
    body = assert_error(client.post("/admin/labels", json={"order_ids": too_many}, headers=h), 400)
    assert "order_ids" in body["fields"]
    body = assert_error(
        client.post("/admin/labels", json={"order_ids": [order["order_id"], 999998, 999999]}, headers=h), 404
    )
    assert body["missing"] == [999998, 999999]
    assert_error(client.post("/admin/labels", json={"order_ids": [order["order_id"]]}), 401)
    assert_error(client.post("/admin/labels", json={"order_ids": [order["order_id"]]}, headers=world.alice.headers),
                 403)  # fmt: skip


def test_batch_of_500_labels(client, world, sql, orders):
    order = orders.place(world.alice)
    ids = [order["order_id"]]
    for _ in range(labels.MAX_BATCH - 1):
        ids.append(
            sql(
                "INSERT INTO orders (tracking_number, customer_id, pickup_address, delivery_address, recipient_name)"
                " SELECT CONCAT('CT', UPPER(LEFT(REPLACE(UUID(), '-', ''), 16))), customer_id, pickup_address,"
                " delivery_address, recipient_name FROM orders WHERE order_id = %s RETURNING order_id",
                (order["order_id"],),
                one=True,
            )["order_id"]
        )
    response = client.post("/admin/labels", json={"order_ids": ids}, headers=world.admin.headers)
    assert response.status_code == 200
    assert len(page_sizes(response.data)) == 500
