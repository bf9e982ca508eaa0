"""Sign-up, login, admin registration and the token checks every protected route shares."""

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token

SIGNUP = {
    "name": "Sam Sender",
    "email": "Sam@Example.com",
    "password": "s3cret-pass",
    "address": "5 Sender Street",
    "phone": "+1 555 0100",
}


def test_signup_creates_customer_with_hashed_password(client, sql):
    response = client.post("/signup", json=SIGNUP)
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "Signup successful"
    assert body["user"]["email"] == "sam@example.com"
    assert "password" not in body["user"]
    row = sql("SELECT * FROM customers WHERE customer_id = %s", (body["customer_id"],), one=True)
    assert row["name"] == "Sam Sender" and row["address"] == "5 Sender Street"
    assert row["password"].startswith("$2b$") and "s3cret-pass" not in row["password"]


@pytest.mark.parametrize("missing", ["name", "email", "password", "address"])
def test_signup_missing_field(client, sql, missing):
    body = {k: v for k, v in SIGNUP.items() if k != missing}
    response = client.post("/signup", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Missing required fields"
    assert response.get_json()["fields"] == {missing: "required"}
    assert sql("SELECT COUNT(*) AS n FROM customers", one=True)["n"] == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("email", "not-an-email"),
        ("password", "short"),
        ("password", "x" * 73),
        ("name", 42),
        ("phone", "call me maybe"),
        ("role", "admin"),
    ],
)
def test_signup_invalid_field(client, sql, field, value):
    response = client.post("/signup", json={**SIGNUP, field: value})
    assert response.status_code == 400
    assert field in response.get_json()["fields"]
    assert sql("SELECT COUNT(*) AS n FROM customers", one=True)["n"] == 0


@pytest.mark.parametrize("data", ["not json", "[1, 2]", "null", ""])
def test_signup_body_not_a_json_object(client, data):
    response = client.post("/signup", data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_signup_duplicate_email_across_roles(client, auth, sql):
    courier = auth.courier()
    first = client.post("/signup", json=SIGNUP)
    assert first.status_code == 201
    again = client.post("/signup", json={**SIGNUP, "email": "sam@EXAMPLE.com"})
    assert again.status_code == 409
    taken = client.post("/signup", json={**SIGNUP, "email": courier.login})
    assert taken.status_code == 409
    assert sql("SELECT COUNT(*) AS n FROM customers", one=True)["n"] == 1


def test_login_customer_matches_original_example(client):
    client.post("/signup", json=SIGNUP)
    response = client.post("/login", json={"email": "sam@example.com", "password": "s3cret-pass"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Login successful"
    assert body["role"] == "customer"
    assert isinstance(body["id"], int)
    assert body["token"] and body["refresh_token"]


def test_login_courier_and_admin(auth):
    assert auth.courier().role == "delivery_person"
    admin = auth.admin("boss")
    response = auth.login(username="boss")
    assert response.get_json()["role"] == "admin"
    assert response.get_json()["id"] == admin.id


def test_login_token_identity_is_string_id_with_role_claim(app, auth):
    customer = auth.customer()
    with app.app_context():
        from flask_jwt_extended import decode_token

        claims = decode_token(customer.token)
    assert claims["sub"] == str(customer.id)
    assert claims["role"] == "customer"


@pytest.mark.parametrize(
    "who",
    [{"email": "nobody@example.com"}, {"username": "nobody"}],
)
def test_login_unknown_account_and_wrong_password_answer_the_same(auth, who):
    customer = auth.customer()
    unknown = auth.login(**who)
    wrong = auth.login(email=customer.login, password="wrong-password")
    assert unknown.status_code == wrong.status_code == 401
    assert (
        unknown.get_json()
        == wrong.get_json()
        == {"error": "Invalid credentials", "code": "invalid_credentials"}
    )


def test_login_missing_fields(client):
    assert client.post("/login", json={"password": "x"}).status_code == 400
    response = client.post("/login", json={"email": "a@b.c"})
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"password": "required"}


def test_register_courier_and_admin(client, auth, sql):
    admin = auth.admin()
    courier = client.post(
        "/register",
        json={
            "user_type": "delivery_person",
            "name": "Cora",
            "email": "cora@example.com",
            "password": "courier-pw",
        },
        headers=admin.headers,
    )
    assert courier.status_code == 201
    assert courier.get_json()["user"]["user_type"] == "delivery_person"
    new_admin = client.post(
        "/register",
        json={"user_type": "admin", "username": "second", "password": "admin-pass"},
        headers=admin.headers,
    )
    assert new_admin.status_code == 201
    assert sql("SELECT COUNT(*) AS n FROM admins WHERE username = 'second'", one=True)["n"] == 1
    assert auth.login(email="cora@example.com", password="courier-pw").get_json()["role"] == "delivery_person"
    assert auth.login(username="second", password="admin-pass").get_json()["role"] == "admin"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "X", "email": "x@example.com", "password": "password1"}, "user_type"),
        (
            {"user_type": "customer", "name": "X", "email": "x@example.com", "password": "password1"},
            "user_type",
        ),
        ({"user_type": "pilot", "username": "x", "password": "password1"}, "user_type"),
        ({"user_type": "delivery_person", "email": "x@example.com", "password": "password1"}, "name"),
        ({"user_type": "admin", "password": "password1"}, "username"),
        ({"user_type": "admin", "username": "ok_name", "password": "short"}, "password"),
    ],
)
def test_register_invalid(client, auth, sql, body, field):
    admin = auth.admin()
    response = client.post("/register", json=body, headers=admin.headers)
    assert response.status_code == 400
    assert field in response.get_json()["fields"]
    assert sql("SELECT COUNT(*) AS n FROM delivery_persons", one=True)["n"] == 0
    assert sql("SELECT COUNT(*) AS n FROM admins", one=True)["n"] == 1


def test_register_duplicates(client, auth):
    admin = auth.admin("taken")
    courier = auth.courier()
    dup_admin = client.post(
        "/register",
        json={"user_type": "admin", "username": "taken", "password": "password1"},
        headers=admin.headers,
    )
    assert dup_admin.status_code == 409
    dup_email = client.post(
        "/register",
        json={"user_type": "delivery_person", "name": "Y", "email": courier.login, "password": "password1"},
        headers=admin.headers,
    )
    assert dup_email.status_code == 409


def test_register_requires_admin(client, auth):
    body = {"user_type": "admin", "username": "sneaky", "password": "password1"}
    assert client.post("/register", json=body).status_code == 401
    assert client.post("/register", json=body, headers=auth.customer().headers).status_code == 403
    assert client.post("/register", json=body, headers=auth.courier().headers).status_code == 403


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer not.a.token", "Token abc", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."],
)
def test_bad_tokens_get_401_json(client, header):
    response = client.get("/admin/users", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.get_json()["error"]


def test_expired_token_gets_401(app, client, auth):
    admin = auth.admin()
    with app.app_context():
        from flask_jwt_extended import decode_token

        claims = decode_token(admin.token)
        expired = create_access_token(
            identity=str(admin.id),
            additional_claims={"role": "admin", "sid": claims["sid"]},
            expires_delta=timedelta(seconds=-10),
        )
    response = client.get("/admin/users", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_expired"


def test_token_signed_with_another_key_gets_401(client, auth):
    import jwt as pyjwt

    admin = auth.admin()
    forged = pyjwt.encode(
        {"sub": str(admin.id), "role": "admin", "sid": "x" * 32, "type": "access", "jti": "j"},
        "some-other-secret-that-is-long-enough-32",
        algorithm="HS256",
    )
    assert client.get("/admin/users", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_refresh_token_is_not_an_access_token(client, auth):
    admin = auth.admin()
    response = client.get("/admin/users", headers={"Authorization": f"Bearer {admin.refresh_token}"})
    assert response.status_code == 401


def test_wrong_role_gets_403_json(client, auth):
    response = client.get("/delivery/assigned-orders", headers=auth.customer().headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "wrong_role"


def test_errors_are_json_everywhere(client):
    missing = client.get("/no/such/route")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    wrong_method = client.put("/login")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["error"]
    too_big = client.post("/signup", data="x" * (1024 * 1024 + 1), content_type="application/json")
    assert too_big.status_code == 413 and too_big.get_json()["code"] == "body_too_large"


def test_health_endpoints(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}
