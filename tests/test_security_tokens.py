"""Token lifecycle (refresh, logout, change-password, revocation), forged tokens, secrets and passwords."""

import base64
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from conftest import PASSWORD, _config
from flask_jwt_extended import create_access_token, decode_token

from app1 import create_app
from courier import auth as authmod
from courier import config as configmod


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def claims_of(app, token):
    with app.app_context():
        return decode_token(token)


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- refresh -----------------------------------------------------------------------------------


def test_refresh_gives_a_new_access_token_in_the_same_session(app, client, auth):
    customer = auth.customer()
    response = client.post("/refresh", headers=bearer(customer.refresh_token))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 15 * 60
    new = claims_of(app, body["token"])
    assert new["type"] == "access"
    assert new["sid"] == claims_of(app, customer.token)["sid"]
    assert new["sub"] == str(customer.id) and new["role"] == "customer"
    assert client.get("/customer/orders", headers=bearer(body["token"])).status_code == 200


def test_token_lifetimes_are_15_minutes_and_30_days(app, auth):
    admin = auth.admin()
    access, refresh = claims_of(app, admin.token), claims_of(app, admin.refresh_token)
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600


def test_refresh_needs_a_refresh_token(client, auth):
    customer = auth.customer()
    assert client.post("/refresh").status_code == 401
    response = client.post("/refresh", headers=customer.headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_token"


def test_refresh_with_a_revoked_session_gets_401(client, auth, sql):
    courier = auth.courier()
    sql("UPDATE auth_sessions SET revoked_at = UTC_TIMESTAMP(6) WHERE user_id = %s", (courier.id,))
    response = client.post("/refresh", headers=bearer(courier.refresh_token))
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_revoked"


# --- logout ------------------------------------------------------------------------------------


def test_logout_revokes_access_and_refresh_tokens_in_mysql(app, client, auth, sql):
    customer = auth.customer()
    response = client.post("/logout", headers=customer.headers)
    assert response.status_code == 200
    assert response.get_json()["message"] == "Logout successful"
    sid = claims_of(app, customer.token)["sid"]
    row = sql("SELECT revoked_at FROM auth_sessions WHERE session_id = %s", (sid,), one=True)
    assert row["revoked_at"] is not None
    assert client.get("/customer/orders", headers=customer.headers).status_code == 401
    assert client.post("/refresh", headers=bearer(customer.refresh_token)).status_code == 401
    # Another process (a new app on the same database) refuses the tokens too.
    other = create_app(_config()).test_client()
    assert other.get("/customer/orders", headers=customer.headers).status_code == 401
    assert other.post("/refresh", headers=bearer(customer.refresh_token)).status_code == 401


def test_logout_also_revokes_the_refresh_token_given_in_the_body(client, auth):
    customer = auth.customer()
    second = auth.login(email=customer.login).get_json()  # another device: another session
    response = client.post(
        "/logout", json={"refresh_token": second["refresh_token"]}, headers=customer.headers
    )
    assert response.status_code == 200
    assert response.get_json()["revoked_sessions"] == 2
    for token in (customer.token, second["token"]):
        assert client.get("/customer/orders", headers=bearer(token)).status_code == 401
    assert client.post("/refresh", headers=bearer(second["refresh_token"])).status_code == 401


def test_logout_refuses_someone_elses_or_a_bogus_refresh_token(client, auth, sql):
    alice, bob = auth.customer(), auth.customer()
    for token in (bob.refresh_token, bob.token, "not-a-token"):
        response = client.post("/logout", json={"refresh_token": token}, headers=alice.headers)
        assert response.status_code == 400
        assert response.get_json()["fields"] == {"refresh_token": "must be a refresh token of this account"}
    assert sql("SELECT COUNT(*) AS n FROM auth_sessions WHERE revoked_at IS NOT NULL", one=True)["n"] == 0
    assert client.get("/customer/orders", headers=bob.headers).status_code == 200
    assert client.get("/customer/orders", headers=alice.headers).status_code == 200


def test_logout_with_a_refresh_token_in_the_header_gets_401(client, auth):
    admin = auth.admin()
    assert client.post("/logout", headers=bearer(admin.refresh_token)).status_code == 401
    assert client.get("/admin/users", headers=admin.headers).status_code == 200


# --- change-password ---------------------------------------------------------------------------


def test_change_password_keeps_this_session_and_revokes_the_others(client, auth, sql):
    courier = auth.courier()
    other = auth.login(email=courier.login).get_json()
    response = client.post(
        "/change-password",
        json={"old_password": PASSWORD, "new_password": "brand-new-pass"},
        headers=courier.headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"message": "Password changed", "revoked_sessions": 1}
    assert client.get("/delivery/history", headers=courier.headers).status_code == 200
    assert client.post("/refresh", headers=bearer(courier.refresh_token)).status_code == 200
    assert client.get("/delivery/history", headers=bearer(other["token"])).status_code == 401
    assert client.post("/refresh", headers=bearer(other["refresh_token"])).status_code == 401
    assert auth.login(email=courier.login).status_code == 401
    assert auth.login(email=courier.login, password="brand-new-pass").status_code == 200
    row = sql("SELECT password FROM delivery_persons WHERE delivery_person_id = %s", (courier.id,), one=True)
    assert row["password"].startswith("$2b$") and "brand-new-pass" not in row["password"]


def test_change_password_with_a_wrong_old_password_is_400_and_changes_nothing(client, auth, sql):
    admin = auth.admin()
    other = auth.login(username=admin.login).get_json()
    before = sql("SELECT password FROM admins WHERE id = %s", (admin.id,), one=True)["password"]
    response = client.post(
        "/change-password",
        json={"old_password": "not-my-password", "new_password": "brand-new-pass"},
        headers=admin.headers,
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "wrong_password"
    assert response.get_json()["fields"] == {"old_password": "is not your current password"}
    assert sql("SELECT password FROM admins WHERE id = %s", (admin.id,), one=True)["password"] == before
    assert client.get("/admin/users", headers=bearer(other["token"])).status_code == 200


def test_change_password_needs_an_access_token(client, auth):
    customer = auth.customer()
    body = {"old_password": PASSWORD, "new_password": "brand-new-pass"}
    assert client.post("/change-password", json=body).status_code == 401
    assert (
        client.post("/change-password", json=body, headers=bearer(customer.refresh_token)).status_code == 401
    )


def test_wrong_old_passwords_are_rate_limited_per_account(app, client, auth):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 15 minutes"
    customer = auth.customer()
    body = {"old_password": "wrong-password", "new_password": "brand-new-pass"}
    statuses = [
        client.post("/change-password", json=body, headers=customer.headers).status_code for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    right = {"old_password": PASSWORD, "new_password": "brand-new-pass"}
    assert client.post("/change-password", json=right, headers=customer.headers).status_code == 429
    other = auth.customer()
    assert client.post("/change-password", json=right, headers=other.headers).status_code == 200


# --- revoked, forged and misused tokens --------------------------------------------------------


@pytest.mark.parametrize("user_type", ["customer", "delivery_person", "admin"])
def test_deleted_accounts_tokens_get_401_immediately(client, auth, user_type):
    admin = auth.admin()
    user = {"customer": auth.customer, "delivery_person": auth.courier, "admin": auth.admin}[user_type]()
    probe = {"customer": "/customer/orders", "delivery_person": "/delivery/history", "admin": "/admin/users"}
    assert client.get(probe[user_type], headers=user.headers).status_code == 200
    deleted = client.delete(f"/admin/delete-user/{user_type}/{user.id}", headers=admin.headers)
    assert deleted.status_code == 200
    response = client.get(probe[user_type], headers=user.headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_revoked"
    assert client.post("/refresh", headers=bearer(user.refresh_token)).status_code == 401
    assert auth.login(**{("username" if user_type == "admin" else "email"): user.login}).status_code == 401


def test_refresh_token_used_as_access_token_gets_401_everywhere(client, auth):
    customer, courier, admin = auth.customer(), auth.courier(), auth.admin()
    for user, path in (
        (customer, "/customer/orders"),
        (courier, "/delivery/history"),
        (admin, "/admin/users"),
    ):
        response = client.get(path, headers=bearer(user.refresh_token))
        assert response.status_code == 401
        assert response.get_json()["code"] == "invalid_token"


def _live_claims(app, user):
    claims = claims_of(app, user.token)
    return {k: claims[k] for k in ("sub", "role", "sid", "type", "jti", "iat", "nbf", "exp", "fresh")}


def test_alg_none_token_with_valid_claims_gets_401(app, client, auth):
    admin = auth.admin()
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(_live_claims(app, admin))}."
    response = client.get("/admin/users", headers=bearer(unsigned))
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_token"


def test_token_signed_with_the_wrong_key_gets_401(app, client, auth):
    admin = auth.admin()
    forged = pyjwt.encode(_live_claims(app, admin), "w" * 48, algorithm="HS256")
    assert client.get("/admin/users", headers=bearer(forged)).status_code == 401


def test_tampered_payload_gets_401(app, client, auth):
    customer = auth.customer()
    header, _, signature = customer.token.split(".")
    claims = {**_live_claims(app, customer), "role": "admin"}
    tampered = f"{header}.{b64(claims)}.{signature}"
    response = client.get("/admin/users", headers=bearer(tampered))
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_token"
    # The same token untouched is a customer's: 403 on an admin route, so the 401 came from the signature.
    assert client.get("/admin/users", headers=customer.headers).status_code == 403


def test_expired_token_of_a_live_session_gets_401(app, client, auth):
    customer = auth.customer()
    claims = claims_of(app, customer.token)
    with app.app_context():
        expired = create_access_token(
            identity=str(customer.id),
            additional_claims={"role": "customer", "sid": claims["sid"]},
            expires_delta=timedelta(seconds=-1),
        )
    response = client.get("/customer/orders", headers=bearer(expired))
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_expired"


def test_token_with_an_unknown_session_gets_401(app, client, auth):
    customer = auth.customer()
    with app.app_context():
        token = create_access_token(
            identity=str(customer.id), additional_claims={"role": "customer", "sid": "f" * 32}
        )
    assert client.get("/customer/orders", headers=bearer(token)).status_code == 401


# --- secrets and passwords ---------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "short", "x" * 31, "é" * 15])
def test_app_refuses_to_start_without_a_strong_secret_outside_debug_and_tests(secret):
    config = {**_config(), "TESTING": False, "DEBUG": False, "JWT_SECRET_KEY": secret}
    with pytest.raises(RuntimeError) as info:
        create_app(config)
    message = str(info.value)
    assert "JWT_SECRET_KEY" in message and "32 bytes" in message
    assert "secrets.token_urlsafe" in message


def test_a_32_byte_secret_starts_and_counts_bytes_not_characters():
    base = {**_config(), "TESTING": False, "DEBUG": False}
    assert create_app({**base, "JWT_SECRET_KEY": "é" * 16}).config["JWT_SECRET_KEY"] == "é" * 16
    assert create_app({**base, "JWT_SECRET_KEY": "k" * 32})


def test_bcrypt_cost_is_12_by_default_and_low_in_tests(app, monkeypatch):
    monkeypatch.delenv("BCRYPT_LOG_ROUNDS", raising=False)
    monkeypatch.setattr(configmod, "load_dotenv", lambda: None)
    assert configmod.from_env()["BCRYPT_LOG_ROUNDS"] == 12
    production = create_app({**configmod.from_env(), "JWT_SECRET_KEY": "p" * 48})
    with production.app_context():
        assert authmod.hash_password("password123").startswith("$2b$12$")
    with app.app_context():
        assert authmod.hash_password("password123").startswith("$2b$04$")


SIGNUP = {"name": "Pat", "email": "pat@example.com", "address": "1 Pat Lane"}


@pytest.mark.parametrize(
    "password, ok",
    [
        ("a" * 7, False),
        ("a" * 8, True),
        ("a" * 72, True),
        ("a" * 73, False),
        ("é" * 36, True),  # 36 characters, 72 bytes
        ("é" * 37, False),  # 37 characters (under the 72-character schema limit), 74 bytes
        ("😀" * 19, False),  # 19 characters, 76 bytes
        ("😀" * 8, True),  # 8 characters, 32 bytes
        ("😀" * 2, True),  # 2 characters, 8 bytes: the rule counts bytes
        ("é" * 3 + "x", False),  # 4 characters, 7 bytes
    ],
)
def test_passwords_must_be_8_to_72_bytes_everywhere(client, auth, sql, password, ok):
    admin, customer = auth.admin(), auth.customer()
    expected = 201 if ok else 400
    signup = client.post("/signup", json={**SIGNUP, "password": password})
    assert signup.status_code == expected, signup.get_json()
    courier = client.post(
        "/register",
        json={"user_type": "delivery_person", "name": "C", "email": "c@example.com", "password": password},
        headers=admin.headers,
    )
    assert courier.status_code == expected
    new_admin = client.post(
        "/register",
        json={"user_type": "admin", "username": "adm_x", "password": password},
        headers=admin.headers,
    )
    assert new_admin.status_code == expected
    change = client.post(
        "/change-password",
        json={"old_password": PASSWORD, "new_password": password},
        headers=customer.headers,
    )
    assert change.status_code == (200 if ok else 400)
    if ok:
        assert auth.login(email="pat@example.com", password=password).status_code == 200
        assert auth.login(email=customer.login, password=password).status_code == 200
    else:
        assert "password" in signup.get_json()["fields"]
        assert "new_password" in change.get_json()["fields"]
        assert sql("SELECT COUNT(*) AS n FROM customers WHERE email = 'pat@example.com'", one=True)["n"] == 0
        assert sql("SELECT COUNT(*) AS n FROM delivery_persons", one=True)["n"] == 0
        assert sql("SELECT COUNT(*) AS n FROM admins", one=True)["n"] == 1
        assert auth.login(email=customer.login).status_code == 200


def test_login_with_an_overlong_password_is_a_plain_401(auth):
    customer = auth.customer()
    response = auth.login(email=customer.login, password="é" * 300)
    assert response.status_code == 401
    assert response.get_json() == {"error": "Invalid credentials", "code": "invalid_credentials"}
