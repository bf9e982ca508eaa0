"""SMS: the provider interface, the log provider, and texts that always fit one GSM-7 SMS."""

import json
import logging

import pytest
from helpers import count
from smtp_sink import drain

from courier import attempts, sms, vocabulary
from courier.vocabulary import FAILURE_REASONS

PHONE = "+44 7700 900123"
LONGEST_NUMBER = "CT" + "W" * 22  # tracking_number is VARCHAR(24)


@pytest.fixture
def phone(sql, world):
    sql("UPDATE customers SET phone = %s WHERE customer_id = %s", (PHONE, world.alice.id))


def sms_rows(sql):
    return sql("SELECT * FROM notifications WHERE channel = 'sms' ORDER BY notification_id")


def test_log_provider_writes_each_sms_to_the_app_log(app, world, orders, phone, sql, caplog):
    app.config.update(SMS_PROVIDER="log")
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up", "In Transit", "Out for Delivery")
    orders.move(world.dave, order["order_id"], "Failed Attempt", reason="refused")
    rows = sms_rows(sql)
    kinds = ["order.assigned", "order.picked_up", "order.out_for_delivery", "order.failed_attempt"]
    assert [row["event_type"] for row in rows] == kinds and {row["recipient"] for row in rows} == {PHONE}
    assert count(sql, "notifications", "channel = 'email'") == 0  # no SMTP_HOST

    with caplog.at_level(logging.INFO, logger="courier.sms"):
        assert drain(app) == 4
    logged = [record.getMessage() for record in caplog.records if record.name == "courier.sms"]
    number = order["tracking_number"]
    link = f"http://127.0.0.1:5000/t/{number}"
    assert logged == [
        f"SMS to {PHONE}: Parcel {number} has been assigned to a courier. Track: {link}",
        f"SMS to {PHONE}: Parcel {number} has been picked up. Track: {link}",
        f"SMS to {PHONE}: Parcel {number} is out for delivery. Track: {link}",
        f"SMS to {PHONE}: Parcel {number} could not be delivered (refused at the door). Track: {link}",
    ]
    assert {(row["status"], row["attempts"]) for row in sms_rows(sql)} == {("sent", 1)}
    assert json.loads(rows[0]["payload"]) == {"to": PHONE, "text": logged[0].split(": ", 1)[1]}


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:5000", "https://track.example.com", "https://" + "x" * 60]
)
def test_every_text_is_one_gsm7_sms(base_url):
    config = {"PUBLIC_BASE_URL": base_url}
    for event_type in sorted(vocabulary.CUSTOMER_EVENTS):
        for reason in [None, *FAILURE_REASONS]:
            text = sms.order_text(event_type, LONGEST_NUMBER, reason, config)
            assert len(text) <= sms.MAX_LENGTH, text
            assert sms.is_gsm7(text), text
            assert text.startswith(f"Parcel {LONGEST_NUMBER} ")
            link = f" Track: {base_url}/t/{LONGEST_NUMBER}"
            core = text.removesuffix(link)
            assert len(core) + len(link) > sms.MAX_LENGTH or text.endswith(
                link
            )  # the link is kept if it fits
            assert core.endswith(".")


def test_the_link_is_dropped_rather_than_exceed_one_sms():
    long_base = "https://tracking.very-long-subdomain.example-courier-company.co.uk/parcels/public/track"
    config = {"PUBLIC_BASE_URL": long_base}
    text = sms.order_text("order.failed_attempt", LONGEST_NUMBER, "recipient_unavailable", config)
    assert text == f"Parcel {LONGEST_NUMBER} could not be delivered (nobody was available)."
    short = sms.order_text("order.delivered", "CT1234", None, config)
    assert short == f"Parcel CT1234 has been delivered. Track: {long_base}/t/CT1234" and len(short) <= 160
    # A link with characters outside GSM-7 would cost two septets each or be mangled: left out.
    odd = sms.order_text(
        "order.delivered", "CT1234", None, {"PUBLIC_BASE_URL": "https://example.com/~courier"}
    )
    assert odd == "Parcel CT1234 has been delivered." and sms.is_gsm7(odd)
    assert not sms.is_gsm7("naïve ~ €")


def test_no_provider_queues_nothing(app, world, orders, phone, sql):
    assert app.config["SMS_PROVIDER"] == ""
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    assert count(sql, "notifications") == 0


def test_unknown_provider_queues_nothing_and_says_so(app, world, orders, phone, sql, caplog):
    app.config.update(SMS_PROVIDER="carrier-pigeon")
    order = orders.place(world.alice)
    with caplog.at_level(logging.ERROR, logger="courier.sms"):
        orders.assign(world.admin, order["order_id"], world.dave)
    assert count(sql, "notifications") == 0
    assert any("Unknown SMS_PROVIDER 'carrier-pigeon'" in record.getMessage() for record in caplog.records)
    with pytest.raises(sms.UnknownProvider):
        sms.provider(app.config)


def test_sms_preference_off_or_no_phone_queues_nothing(app, client, world, orders, phone, sql):
    app.config.update(SMS_PROVIDER="log")
    response = client.patch("/customer/preferences", json={"sms": False}, headers=world.alice.headers)
    assert response.get_json()["preferences"] == {"email": True, "sms": False, "arriving_soon": False}
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    other = orders.place(world.bob)  # Bob has no phone number
    orders.assign(world.admin, other["order_id"], world.dave)
    assert count(sql, "notifications") == 0
    client.patch("/customer/preferences", json={"sms": True}, headers=world.alice.headers)
    orders.move(world.dave, order["order_id"], "Picked Up")
    assert [row["event_type"] for row in sms_rows(sql)] == ["order.picked_up"]


class RecordingProvider(sms.Provider):
    """A provider of our own, registered by name: the interface a real SMS gateway implements."""

    sent = []

    def send(self, to, text):
        if to.endswith("0"):
            return attempts.Result(False, status_code=400, error="invalid number", permanent=True)
        self.sent.append((to, text, self.config["PUBLIC_BASE_URL"]))
        return attempts.Result(True, status_code=202)


def test_a_registered_provider_is_used_by_the_worker(app, world, orders, phone, sql, monkeypatch):
    monkeypatch.setitem(sms.PROVIDERS, "recording", RecordingProvider)
    monkeypatch.setattr(RecordingProvider, "sent", [])
    app.config.update(SMS_PROVIDER="recording")
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    sql("UPDATE customers SET phone = '+44 7700 900120' WHERE customer_id = %s", (world.alice.id,))
    orders.move(world.dave, order["order_id"], "Picked Up")
    assert drain(app) == 2
    assert [to for to, _, _ in RecordingProvider.sent] == [PHONE]
    first, second = sms_rows(sql)
    assert (first["status"], first["last_status_code"]) == ("sent", 202)
    assert (second["status"], second["attempts"], second["last_error"]) == ("failed", 1, "invalid number")
