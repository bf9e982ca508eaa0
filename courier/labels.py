"""Shipping labels: a 4x6 inch PDF page per order (reportlab), or ZPL II for thermal printers.

Each label has the sender (the customer and the pickup address), the recipient, the tracking number as a Code 128
barcode and, as a QR code, the public tracking URL (PUBLIC_BASE_URL/t/<tracking number>), the weight and the date.
"""

import io
import textwrap
from datetime import UTC, datetime

from flask import current_app
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

from .db import query
from .errors import ApiError, bad_request, not_found

PAGE = (4 * inch, 6 * inch)  # 288 x 432 points
MARGIN = 14
MAX_BATCH = 500
FORMATS = ("pdf", "zpl")
# ZPL at 203 dpi (8 dots/mm): a 4x6 inch label is 812 x 1218 dots.
ZPL_WIDTH, ZPL_HEIGHT = 812, 1218

LABEL_COLUMNS = (
    "o.order_id, o.tracking_number, o.customer_id, o.status, o.pickup_address, o.delivery_address,"
    " o.recipient_name, o.recipient_phone, o.weight_kg, o.created_at, c.name AS sender_name"
)


def _orders(where, args):
    return query(
        f"SELECT {LABEL_COLUMNS} FROM orders o JOIN customers c ON c.customer_id = o.customer_id WHERE {where}",
        args,
    )


def label_order(order_id, customer_id=None):
    """One order's label data; a customer's label only of their own order (someone else's: 404)."""
    rows = _orders("o.order_id = %s", (order_id,))
    if not rows or (customer_id is not None and rows[0]["customer_id"] != customer_id):
        raise not_found("Order")
    return rows[0]


def label_orders(order_ids):
    """Label data of many orders, in the order asked; 404 naming every id that does not exist."""
    if not order_ids:
        raise bad_request(
            "order_ids must list at least one order", "invalid_fields", {"order_ids": "required"}
        )
    placeholders = ", ".join(["%s"] * len(order_ids))
    found = {row["order_id"]: row for row in _orders(f"o.order_id IN ({placeholders})", tuple(order_ids))}
    missing = [order_id for order_id in order_ids if order_id not in found]
    if missing:
        raise ApiError(
            404, "Orders not found: " + ", ".join(map(str, missing)), "order_not_found", missing=missing
        )
    return [found[order_id] for order_id in order_ids]


def tracking_url(tracking_number):
    return f"{current_app.config['PUBLIC_BASE_URL']}/t/{tracking_number}"


def _weight(order):
    return f"{order['weight_kg'].normalize():f} kg" if order["weight_kg"] is not None else "-"


def _date(order):
    return f"{order['created_at']:%Y-%m-%d}"


def _lines(text, width):
    """Address text wrapped to the label's width, one or more lines per line of the address."""
    out = []
    for part in str(text or "").replace(",", ",\n").splitlines():
        out.extend(textwrap.wrap(part.strip(), width) or [""])
    return [line for line in out if line][:4]


def _draw(pdf, order):
    """One label page."""
    width, height = PAGE
    y = height - MARGIN
    pdf.setLineWidth(1)

    def text(line, size=9, font="Helvetica", x=MARGIN):
        nonlocal y
        y -= size + 2
        pdf.setFont(font, size)
        pdf.drawString(x, y, line)

    text("FROM", 7, "Helvetica-Bold")
    text(order["sender_name"], 9)
    for line in _lines(order["pickup_address"], 52):
        text(line, 8)
    y -= 6
    pdf.line(MARGIN, y, width - MARGIN, y)
    y -= 4
    text("TO", 8, "Helvetica-Bold")
    text(order["recipient_name"], 13, "Helvetica-Bold")
    for line in _lines(order["delivery_address"], 34):
        text(line, 11)
    if order["recipient_phone"]:
        text(f"Tel. {order['recipient_phone']}", 9)
    y -= 6
    pdf.line(MARGIN, y, width - MARGIN, y)
    text(f"Order {order['order_id']}    Weight {_weight(order)}    Date {_date(order)}", 9)

    # Code 128 of the tracking number, as wide as the label allows (zbar reads it from a 150 dpi render).
    barcode = code128.Code128(order["tracking_number"], barHeight=60, barWidth=1.05, quiet=True)
    x = (width - barcode.width) / 2
    y -= 70
    barcode.drawOn(pdf, x, y)
    pdf.setFont("Courier-Bold", 12)
    pdf.drawCentredString(width / 2, y - 14, order["tracking_number"])

    # QR code of the public tracking page.
    size = 110
    widget = qr.QrCodeWidget(tracking_url(order["tracking_number"]), barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, pdf, MARGIN, MARGIN)
    pdf.setFont("Helvetica", 7)
    pdf.drawString(MARGIN + size + 8, MARGIN + 60, "Track this parcel:")
    for i, line in enumerate(textwrap.wrap(tracking_url(order["tracking_number"]), 30)[:3]):
        pdf.drawString(MARGIN + size + 8, MARGIN + 50 - 9 * i, line)
    pdf.showPage()


def pdf_bytes(orders):
    """One 4x6 inch page per order, as PDF bytes."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=PAGE, pageCompression=1)
    pdf.setTitle("Shipping labels" if len(orders) > 1 else f"Label {orders[0]['tracking_number']}")
    pdf.setCreator("Courier Tracking System")
    for order in orders:
        _draw(pdf, order)
    pdf.save()
    return buffer.getvalue()


def zpl_field(value):
    """Text as ZPL field data under ^FH: '_', '^' and '~' (and anything outside printable ASCII) hex-escaped."""
    out = []
    for char in str(value or ""):
        if char in "_^~\\" or not 32 <= ord(char) < 127:
            out.extend(f"_{byte:02X}" for byte in char.encode())
        else:
            out.append(char)
    return "".join(out)


def zpl(order):
    """One label as ZPL II, 4x6 inch at 203 dpi, UTF-8 text (^CI28)."""
    lines = ["^XA", "^CI28", f"^PW{ZPL_WIDTH}", f"^LL{ZPL_HEIGHT}", "^LH0,0"]
    y = 30

    def text(value, size=28, x=30):
        nonlocal y
        lines.append(f"^FO{x},{y}^A0N,{size},{size}^FH^FD{zpl_field(value)}^FS")
        y += size + 8

    text("FROM", 22)
    text(order["sender_name"], 26)
    for line in _lines(order["pickup_address"], 48):
        text(line, 24)
    lines.append(f"^FO30,{y}^GB752,3,3^FS")
    y += 16
    text("TO", 26)
    text(order["recipient_name"], 44)
    for line in _lines(order["delivery_address"], 30):
        text(line, 38)
    if order["recipient_phone"]:
        text(f"Tel. {order['recipient_phone']}", 28)
    lines.append(f"^FO30,{y}^GB752,3,3^FS")
    y += 16
    text(f"Order {order['order_id']}   Weight {_weight(order)}   Date {_date(order)}", 28)
    y += 10
    # Code 128 (subset B from the start: >:), human-readable line below it.
    lines.append(f"^FO60,{y}^BY3^BCN,160,Y,N,N^FD>:{zpl_field(order['tracking_number'])}^FS")
    y += 230
    # QR code, model 2, magnification 6, error correction M with automatic input mode.
    lines.append(f"^FO30,{y}^BQN,2,6^FH^FDMA,{zpl_field(tracking_url(order['tracking_number']))}^FS")
    lines.append(f"^FO300,{y + 60}^A0N,24,24^FDTrack this parcel^FS")
    lines.append("^XZ")
    return "\n".join(lines) + "\n"


def render(orders, fmt="pdf"):
    """(body, media type, file name) of the labels: PDF (one page each) or ZPL (one ^XA...^XZ block each)."""
    if fmt == "zpl":
        body, mimetype, ext = "".join(zpl(order) for order in orders), "application/zpl", "zpl"
    else:
        body, mimetype, ext = pdf_bytes(orders), "application/pdf", "pdf"
    name = (
        f"label-{orders[0]['tracking_number']}" if len(orders) == 1 else f"labels-{datetime.now(UTC):%Y%m%d}"
    )
    return body, mimetype, f"{name}.{ext}"
