"""Email notifications end to end: API event -> outbox row -> worker -> a real SMTP server (aiosmtpd) on loopback."""

import json
import shutil
import ssl
import subprocess
import time

import pytest
from aiosmtpd.smtp import AuthResult
from helpers import assert_error, count
from live_servers import free_port
from smtp_sink import assert_schema, drain, parts, smtp_server, use_smtp


@pytest.fixture
def smtp(app):
    """A running SMTP server the app sends to."""
    with smtp_server() as (sink, port):
        use_smtp(app, port)
        yield sink


def rows(sql, order_id):
    return sql("SELECT * FROM notifications WHERE order_id = %s ORDER BY notification_id", (order_id,))


def test_each_status_change_emails_the_customer(app, client, world, orders, smtp, sql):
    order = orders.place(world.alice)
    number, order_id = order["tracking_number"], order["order_id"]
    assert count(sql, "notifications") == 0  # a placed order tells the customer nothing by email
    orders.assign(world.admin, order_id, world.dave)
    orders.move(world.dave, order_id, "Picked Up", "In Transit", "Out for Delivery")
    orders.move(world.dave, order_id, "Failed Attempt", reason="address_not_found")
    orders.move(world.dave, order_id, "Out for Delivery", "Delivered")

    queued = rows(sql, order_id)
    expected = ["order.assigned", "order.picked_up", "order.out_for_delivery", "order.failed_attempt",
                "order.out_for_delivery", "order.delivered"]  # fmt: skip
    assert [row["event_type"] for row in queued] == expected  # In Transit: no email
    assert {row["status"] for row in queued} == {"pending"}
    assert drain(app) == 6
    assert len(smtp.messages) == 6

    statuses = [
        "Assigned",
        "Picked Up",
        "Out for Delivery",
        "Failed Attempt",
        "Out for Delivery",
        "Delivered",
    ]
    link = f"http://127.0.0.1:5000/t/{number}"
    for message, row, status in zip(smtp.messages, queued, statuses, strict=True):
        payload = json.loads(row["payload"])
        assert message["To"] == world.alice.login
        assert message["From"] == app.config["MAIL_FROM"]
        assert (
            message["Message-ID"] == payload["message_id"] == f"<{row['event_id']}.email@courier.localhost>"
        )
        assert number in message["Subject"]
        text, html = parts(message)
        for body in (text, html):
            assert number in body and status in body and link in body
            assert world.alice.name in body
        assert f'href="{link}"' in html
    text, html = parts(smtp.messages[3])
    assert "Reason: The courier could not find the delivery address." in text
    assert "The courier could not find the delivery address." in html
    assert "Reason" not in parts(smtp.messages[0])[0]

    stored = rows(sql, order_id)
    assert {(row["status"], row["attempts"], row["due_at"]) for row in stored} == {("sent", 1, None)}
    assert all(row["sent_at"] is not None and row["last_status_code"] == 250 for row in stored)
    attempts = sql("SELECT * FROM notification_attempts ORDER BY attempt_id")
    assert [(a["attempt"], a["ok"], a["status_code"], a["worker"]) for a in attempts] == [
        (1, 1, 250, "test")
    ] * 6
    assert drain(app) == 0  # nothing is sent twice


def test_html_is_escaped_and_text_is_not(app, world, orders, smtp, sql):
    sql("UPDATE customers SET name = %s WHERE customer_id = %s", ("<b>Al & Co</b>", world.alice.id))
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    drain(app)
    text, html = parts(smtp.messages[0])
    assert "Hello <b>Al & Co</b>," in text
    assert "&lt;b&gt;Al &amp; Co&lt;/b&gt;" in html and "<b>Al" not in html


def test_cancelled_and_returned_are_emailed(app, client, world, orders, smtp, sql):
    first = orders.place(world.alice)
    response = client.post(
        f"/customer/cancel-order/{first['order_id']}", json={}, headers=world.alice.headers
    )
    assert response.status_code == 200, response.get_json()
    second = orders.place(world.alice)
    orders.assign(world.admin, second["order_id"], world.dave)
    orders.move(world.dave, second["order_id"], "Picked Up", "Out for Delivery", "Failed Attempt", "Returned")
    drain(app)
    subjects = [message["Subject"] for message in smtp.messages]
    assert f"Your order has been cancelled ({first['tracking_number']})" in subjects
    assert f"Your parcel has been returned to the sender ({second['tracking_number']})" in subjects


def test_email_preference_off_queues_nothing(app, client, world, orders, smtp, sql):
    response = client.patch("/customer/preferences", json={"email": False}, headers=world.alice.headers)
    assert response.status_code == 200
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    orders.move(world.dave, order["order_id"], "Picked Up")
    assert count(sql, "notifications") == 0
    # Bob still gets his
    other = orders.place(world.bob)
    orders.assign(world.admin, other["order_id"], world.dave)
    assert drain(app) == 1
    assert [message["To"] for message in smtp.messages] == [world.bob.login]


def test_deleted_customer_gets_nothing(app, world, orders, smtp, sql):
    order = orders.place(world.alice)
    sql("UPDATE customers SET deleted_at = UTC_TIMESTAMP(6) WHERE customer_id = %s", (world.alice.id,))
    orders.assign(world.admin, order["order_id"], world.dave)
    assert count(sql, "notifications") == 0


def test_without_smtp_host_no_email_is_queued(app, world, orders, sql):
    assert app.config["SMTP_HOST"] == ""
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    assert count(sql, "order_events") == 2 and count(sql, "notifications") == 0


def test_smtp_down_is_retried_then_delivered(app, world, orders, sql):
    port = free_port()  # nothing listens here yet
    use_smtp(app, port)
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    assert drain(app) == 1
    row = sql("SELECT * FROM notifications", one=True)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    assert row["due_at"] is not None and "refused" in row["last_error"].lower()
    time.sleep(0.05)
    assert drain(app) == 1
    attempts = sql("SELECT * FROM notification_attempts ORDER BY attempt_id")
    assert [(a["attempt"], a["ok"]) for a in attempts] == [(1, 0), (2, 0)]
    assert all("refused" in a["error"].lower() and a["status_code"] is None for a in attempts)

    with smtp_server(port) as (sink, _):
        time.sleep(0.05)
        assert drain(app) == 1
        assert len(sink.messages) == 1
    row = sql("SELECT * FROM notifications", one=True)
    assert (row["status"], row["attempts"], row["due_at"], row["last_error"]) == ("sent", 3, None, None)


def test_parked_after_max_attempts_and_admin_retries(app, client, world, orders, sql):
    port = free_port()
    use_smtp(app, port, NOTIFY_MAX_ATTEMPTS=2)
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    drain(app)
    time.sleep(0.05)
    drain(app)
    time.sleep(0.05)
    assert drain(app) == 0  # parked: no third attempt
    row = sql("SELECT * FROM notifications", one=True)
    assert (row["status"], row["attempts"], row["max_attempts"], row["due_at"]) == ("failed", 2, 2, None)
    nid = row["notification_id"]

    listing = client.get("/admin/notifications?status=failed", headers=world.admin.headers)
    assert listing.status_code == 200
    body = listing.get_json()
    assert_schema(body, "NotificationPage")
    assert [n["notification_id"] for n in body["notifications"]] == [nid]
    item = body["notifications"][0]
    assert item["status"] == "failed" and item["attempts"] == 2 and item["next_attempt_at"] is None
    assert "refused" in item["last_error"].lower() and item["recipient"] == world.alice.login
    assert "payload" not in item
    assert (
        client.get("/admin/notifications?status=sent", headers=world.admin.headers).get_json()[
            "notifications"
        ]
        == []
    )

    detail = client.get(f"/admin/notifications/{nid}", headers=world.admin.headers)
    assert detail.status_code == 200
    assert_schema(detail.get_json(), "NotificationResult")
    notification = detail.get_json()["notification"]
    assert [a["attempt"] for a in notification["attempts_log"]] == [1, 2]
    assert notification["attempts_log"][0]["ok"] is False
    assert (
        notification["payload"]["to"] == world.alice.login
        and order["tracking_number"] in notification["payload"]["text"]
    )

    retried = client.post(f"/admin/notifications/{nid}/retry", headers=world.admin.headers)
    assert retried.status_code == 200
    assert_schema(retried.get_json(), "NotificationResult")
    again = retried.get_json()["notification"]
    assert (again["status"], again["attempts"]) == ("pending", 0) and again["next_attempt_at"] is not None
    stored = sql("SELECT * FROM notifications", one=True)
    assert (stored["status"], stored["attempts"], stored["give_up_at"]) == ("pending", 0, None)
    assert_error(
        client.post(f"/admin/notifications/{nid}/retry", headers=world.admin.headers), 409, "not_failed"
    )

    with smtp_server(port) as (sink, _):
        assert drain(app) == 1
        assert len(sink.messages) == 1
    assert sql("SELECT status FROM notifications", one=True)["status"] == "sent"
    body = assert_error(client.post(f"/admin/notifications/{nid}/retry", headers=world.admin.headers), 409)
    assert body["code"] == "not_failed" and body["current_status"] == "sent"


def test_permanent_refusal_parks_at_once(app, world, orders, sql):
    with smtp_server(refuse="550 5.1.1 No such user") as (sink, port):
        use_smtp(app, port)
        order = orders.place(world.alice)
        orders.assign(world.admin, order["order_id"], world.dave)
        assert drain(app) == 1
    row = sql("SELECT * FROM notifications", one=True)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 1, 550)
    assert "No such user" in row["last_error"] and sink.messages == []


@pytest.fixture
def tls_files(tmp_path, monkeypatch):
    """A self-signed certificate for 127.0.0.1 that the app's SMTP client trusts (SSL_CERT_FILE)."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make a test certificate: `make test-tools` installs it")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


def test_starttls_and_login_when_configured(app, world, orders, sql, tls_files):
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"mailer", b"s3cret"))

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    options = {"authenticator": authenticator, "auth_required": True, "tls_context": context,
               "require_starttls": True}  # fmt: skip
    with smtp_server(controller_options=options) as (sink, port):
        use_smtp(app, port)  # no STARTTLS, no login: refused with 530, retried (a configuration problem)
        order = orders.place(world.alice)
        orders.assign(world.admin, order["order_id"], world.dave)
        assert drain(app) == 1
        row = sql("SELECT * FROM notifications", one=True)
        assert (row["status"], row["last_status_code"]) == ("pending", 530) and sink.messages == []

        app.config.update(SMTP_STARTTLS=True)  # encrypted, but still not logged in
        time.sleep(0.05)
        assert drain(app) == 1
        row = sql("SELECT * FROM notifications", one=True)
        assert (row["status"], row["last_status_code"], row["attempts"]) == ("pending", 530, 2)

        app.config.update(SMTP_USER="mailer", SMTP_PASSWORD="s3cret")
        time.sleep(0.05)
        assert drain(app) == 1
        assert logins == [(b"mailer", b"s3cret")] and len(sink.messages) == 1
    assert sql("SELECT status FROM notifications", one=True)["status"] == "sent"


def test_starttls_is_skipped_only_for_a_loopback_relay_that_does_not_offer_it(app, world, orders, smtp, sql):
    app.config.update(SMTP_STARTTLS=True)  # the local sink offers no STARTTLS: nothing leaves the machine
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    assert drain(app) == 1 and len(smtp.messages) == 1
    app.config.update(SMTP_HOST="localhost")
    orders.move(world.dave, order["order_id"], "Picked Up")
    assert drain(app) == 1 and len(smtp.messages) == 2


def test_admin_notification_list_filters_and_pages(app, client, world, orders, smtp, sql):
    first = orders.place(world.alice)
    second = orders.place(world.bob)
    orders.assign(world.admin, first["order_id"], world.dave)
    orders.assign(world.admin, second["order_id"], world.dave)
    orders.move(world.dave, first["order_id"], "Picked Up")
    ids = [row["notification_id"] for row in sql("SELECT notification_id FROM notifications ORDER BY 1 DESC")]
    assert len(ids) == 3
    page = client.get("/admin/notifications?limit=2", headers=world.admin.headers).get_json()
    assert [n["notification_id"] for n in page["notifications"]] == ids[:2] and page["next_cursor"]
    rest = client.get(
        f"/admin/notifications?limit=2&cursor={page['next_cursor']}", headers=world.admin.headers
    )
    assert [n["notification_id"] for n in rest.get_json()["notifications"]] == ids[2:]
    assert rest.get_json()["next_cursor"] is None

    by_order = client.get(f"/admin/notifications?order_id={first['order_id']}", headers=world.admin.headers)
    assert {n["order_id"] for n in by_order.get_json()["notifications"]} == {first["order_id"]}
    assert len(by_order.get_json()["notifications"]) == 2
    email = client.get("/admin/notifications?channel=email&status=pending", headers=world.admin.headers)
    assert len(email.get_json()["notifications"]) == 3
    assert (
        client.get("/admin/notifications?channel=sms", headers=world.admin.headers).get_json()[
            "notifications"
        ]
        == []
    )
    none = client.get("/admin/notifications?webhook_id=5", headers=world.admin.headers)
    assert none.status_code == 200 and none.get_json()["notifications"] == []


BAD_QUERIES = [("status=lost", "status"), ("channel=pigeon", "channel"), ("order_id=x", "order_id"),
               ("order_id=0", "order_id"), ("webhook_id=-1", "webhook_id"), ("limit=0", "limit"),
               ("limit=101", "limit"), ("cursor=garbage", "cursor"), ("sort=created_at", "sort")]  # fmt: skip


def test_admin_notification_list_rejects_bad_queries(client, world):
    for query, field in BAD_QUERIES:
        body = assert_error(client.get(f"/admin/notifications?{query}", headers=world.admin.headers), 400)
        assert field in body["fields"], query


def test_admin_notification_endpoints_need_an_admin(client, world):
    paths = [("get", "/admin/notifications"), ("get", "/admin/notifications/1"),
             ("post", "/admin/notifications/1/retry")]  # fmt: skip
    for method, path in paths:
        assert_error(client.open(path, method=method.upper()), 401)
        for user in (world.alice, world.dave):
            assert_error(client.open(path, method=method.upper(), headers=user.headers), 403, "wrong_role")


def test_missing_notification_is_404(client, world, sql):
    assert_error(
        client.get("/admin/notifications/999", headers=world.admin.headers), 404, "notification_not_found"
    )
    retry = client.post("/admin/notifications/999/retry", headers=world.admin.headers)
    assert_error(retry, 404, "notification_not_found")
    assert count(sql, "notifications") == 0


def test_retry_refuses_pending_and_keeps_the_row(app, client, world, orders, smtp, sql):
    order = orders.place(world.alice)
    orders.assign(world.admin, order["order_id"], world.dave)
    before = sql("SELECT * FROM notifications", one=True)
    body = assert_error(
        client.post(f"/admin/notifications/{before['notification_id']}/retry", headers=world.admin.headers),
        409,
    )
    assert body["code"] == "not_failed" and body["current_status"] == "pending"
    assert sql("SELECT * FROM notifications", one=True) == before
