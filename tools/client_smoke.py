"""A small program written against the client that openapi-python-client generates from /openapi.json.

    python tools/client_smoke.py BASE_URL      # with the generated courier_client package importable

As a customer of the demo data it logs in, places an order, reads it back, and fetches its QR code (PNG and
SVG) and delivery code; any answer other than the documented success fails it. Run by tools/contract.py in
the client tools' own virtualenv (not the runtime's).
"""

import sys

from courier_client import AuthenticatedClient, Client
from courier_client.api.authentication_and_accounts import post_login
from courier_client.api.customer import (
    get_customer_orders_order_id_delivery_code,
    get_customer_orders_order_id_qr,
    get_customer_orders_order_id_qr_svg,
    get_customer_track_order_order_id,
    post_customer_place_order,
)
from courier_client.models import LoginRequest, OrderResult, OrderTracking, PlaceOrderRequest, Tokens
from courier_client.types import File


def expect(response, status, kind):
    if response.status_code != status or not isinstance(response.parsed, kind):
        sys.exit(f"expected {status} {kind.__name__}, got {response.status_code}: {response.content[:300]!r}")
    return response.parsed


def main(base):
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    tokens = expect(
        post_login.sync_detailed(
            client=anonymous, body=LoginRequest(email="alice@example.com", password="customer123")
        ),
        200,
        Tokens,
    )
    client = AuthenticatedClient(base_url=base, token=tokens.token, raise_on_unexpected_status=True)
    placed = expect(
        post_customer_place_order.sync_detailed(
            client=client,
            body=PlaceOrderRequest(
                delivery_address="9 Client Road, Shelbyville", recipient_name="Gen Client", weight_kg=1.5
            ),
        ),
        201,
        OrderResult,
    )
    order_id = placed.order.order_id
    tracking = expect(
        get_customer_track_order_order_id.sync_detailed(order_id, client=client), 200, OrderTracking
    )
    assert tracking.order.order_id == order_id and tracking.order.status.value == "Pending", tracking
    assert [event.status for event in tracking.events] == ["Pending"], tracking.events
    png = expect(get_customer_orders_order_id_qr.sync_detailed(order_id, client=client), 200, File)
    assert png.payload.read()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    svg = expect(get_customer_orders_order_id_qr_svg.sync_detailed(order_id, client=client), 200, File)
    assert b"<svg" in svg.payload.read(), "not an SVG"
    code = get_customer_orders_order_id_delivery_code.sync(order_id, client=client)
    assert code.order_id == order_id and len(code.code) == 10, code
    print(
        f"client: logged in, placed order {order_id} ({placed.order.tracking_number}), read it, got its QR code"
    )


if __name__ == "__main__":
    main(sys.argv[1])
