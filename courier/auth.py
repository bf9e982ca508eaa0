"""Passwords, tokens and the one role check every protected handler calls: require_role()."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app, g, has_app_context
from flask_bcrypt import Bcrypt
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt,
    verify_jwt_in_request,
)

from . import cpu, emails, livehub
from .db import execute, query
from .errors import bad_request, error_response, forbidden

bcrypt = Bcrypt()
jwt = JWTManager()

ROLES = ("admin", "customer", "delivery_person")
MIN_PASSWORD_BYTES, MAX_PASSWORD_BYTES = 8, 72
# Every role's account table: (table, id column, login column).
ACCOUNTS = {
    "customer": ("customers", "customer_id", "email"),
    "delivery_person": ("delivery_persons", "delivery_person_id", "email"),
    "admin": ("admins", "id", "username"),
}


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account id, its role and the login session of its token."""

    id: int
    role: str
    session_id: str


def check_password_length(password, field="password"):
    """Raise a 400 unless the password is 8 to 72 bytes in UTF-8 (bcrypt reads at most 72 bytes)."""
    size = len(password.encode())
    if not MIN_PASSWORD_BYTES <= size <= MAX_PASSWORD_BYTES:
        problem = f"must be {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes (UTF-8)"
        raise bad_request(f"{field} {problem}", "invalid_fields", {field: problem})
    return password


def hash_password(password, field="password"):
    """A bcrypt hash (cost BCRYPT_LOG_ROUNDS) of a password of 8 to 72 bytes; other lengths get 400."""
    check_password_length(password, field)
    # The cost is read per app (Flask-Bcrypt keeps only the last app's on its shared instance).
    rounds = current_app.config["BCRYPT_LOG_ROUNDS"] if has_app_context() else None
    return cpu.run(bcrypt.generate_password_hash, password, rounds).decode()


def check_password(password_hash, password):
    """Whether the password matches: one bcrypt check whatever its length, never an error."""
    raw = password.encode()
    if len(raw) > MAX_PASSWORD_BYTES:
        # No stored password is that long (bcrypt refuses them), but spend the time of a real check.
        cpu.run(bcrypt.check_password_hash, password_hash, raw[:MAX_PASSWORD_BYTES])
        return False
    return cpu.run(bcrypt.check_password_hash, password_hash, raw)


def _rounds():
    return current_app.config["BCRYPT_LOG_ROUNDS"]


def hash_cost(password_hash):
    """The cost (log rounds) a bcrypt hash was made with ("$2b$12$..." -> 12), or None."""
    parts = (password_hash or "").split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None


def _dummy_hash():
    """A hash at the current cost to check against when the account is unknown, so both cases take as long."""
    key = f"dummy_password_hash_{_rounds()}"
    if key not in current_app.extensions:
        current_app.extensions[key] = hash_password(secrets.token_urlsafe(16))
    return current_app.extensions[key]


def find_account(email=None, username=None):
    """The live account that logs in with this email or username, with its role, or None.

    The email is normalised first (courier.emails); one that holds invisible or control characters is a 400.
    """
    if username is not None:
        row = query(
            "SELECT id, password FROM admins WHERE username = %s AND deleted_at IS NULL",
            (username,),
            one=True,
        )
        return ("admin", row) if row else (None, None)
    entry = query(
        "SELECT user_type, user_id FROM account_emails WHERE email = %s", (emails.normalise(email),), one=True
    )
    if entry is None:
        return None, None
    table, id_column, _ = ACCOUNTS[entry["user_type"]]
    row = query(
        f"SELECT {id_column} AS id, password FROM {table} WHERE {id_column} = %s AND deleted_at IS NULL",
        (entry["user_id"],),
        one=True,
    )
    return (entry["user_type"], row) if row else (None, None)


def _rehash_if_outdated(role, row, password):
    """After a successful login, store the password again at the current cost if its hash is older.

    Compare-and-set: a password changed meanwhile is left alone.
    """
    if hash_cost(row["password"]) == _rounds():
        return
    if not MIN_PASSWORD_BYTES <= len(password.encode()) <= MAX_PASSWORD_BYTES:
        return  # an old password of a length no longer accepted: keep its hash rather than refuse the login
    table, id_column, _ = ACCOUNTS[role]
    execute(
        f"UPDATE {table} SET password = %s WHERE {id_column} = %s AND password = %s",
        (hash_password(password), row["id"], row["password"]),
    )


def authenticate(email, username, password):
    """(role, id) for valid credentials, else None; unknown accounts cost a bcrypt check at the current cost."""
    role, row = find_account(email=email, username=username)
    if row is None:
        check_password(_dummy_hash(), password)
        return None
    if not check_password(row["password"], password):
        return None
    _rehash_if_outdated(role, row, password)
    return role, row["id"]


def issue_tokens(role, user_id):
    """Start a login session and return its access and refresh tokens."""
    session_id = secrets.token_hex(16)
    expires = datetime.now(UTC).replace(tzinfo=None) + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    execute(
        "INSERT INTO auth_sessions (session_id, user_type, user_id, expires_at) VALUES (%s, %s, %s, %s)",
        (session_id, role, user_id, expires),
    )
    claims = {"role": role, "sid": session_id}
    identity = str(user_id)
    return {
        "token": create_access_token(identity=identity, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=identity, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


def access_token(caller):
    """A new access token for the caller's login session (POST /refresh)."""
    claims = {"role": caller.role, "sid": caller.session_id}
    return {
        "token": create_access_token(identity=str(caller.id), additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


def revoke_sessions(role, user_id, keep=None):
    """Revoke every live session of an account (but `keep`), so its tokens stop working; return how many."""
    _, count = execute(
        "UPDATE auth_sessions SET revoked_at = UTC_TIMESTAMP(6)"
        " WHERE user_type = %s AND user_id = %s AND revoked_at IS NULL AND session_id <> %s",
        (role, user_id, keep or ""),
    )
    cache = livehub.hub(current_app)
    kept = cache.valid.get(keep) if keep else None
    cache.forget_sessions(role, user_id)
    if kept is not None:
        cache.remember_session(keep, role, user_id)
    return count


def require_role(*roles, refresh=False):
    """Verify the bearer token and that its role is one of `roles`; return the Caller.

    No, bad, expired or revoked token: 401. A valid token of another role: 403.
    """
    verify_jwt_in_request(refresh=refresh)
    claims = get_jwt()
    role = claims.get("role")
    # Who is calling, for the access log (courier.requestlog).
    g.auth_user = {"user_id": int(claims["sub"]), "role": role}
    if role not in roles:
        raise forbidden(f"This endpoint is for {' or '.join(roles)} accounts", "wrong_role")
    return Caller(int(claims["sub"]), role, claims["sid"])


def _token_error(message, code):
    return error_response(401, message, code)


def init_app(app):
    bcrypt.init_app(app)
    jwt.init_app(app)

    @jwt.token_in_blocklist_loader
    def session_revoked(jwt_header, payload):
        """A token is dead once its session is revoked, expired or unknown (deleted accounts included)."""
        sid, role, sub = payload.get("sid"), payload.get("role"), payload.get("sub")
        if not sid or role not in ROLES or not str(sub).isdigit():
            return True
        # Access tokens: a session checked a moment ago is not asked again (courier.livehub drops it as
        # soon as a revocation is seen). Refresh tokens always ask MySQL.
        sessions = livehub.hub(current_app)
        access = payload.get("type") == "access"
        if access and sessions.session_known_valid(sid, role, int(sub)):
            return False
        row = query(
            "SELECT revoked_at FROM auth_sessions"
            " WHERE session_id = %s AND user_type = %s AND user_id = %s AND expires_at > UTC_TIMESTAMP(6)",
            (sid, role, int(sub)),
            one=True,
        )
        revoked = row is None or row["revoked_at"] is not None
        if access and not revoked:
            sessions.remember_session(sid, role, int(sub))
        return revoked

    @jwt.unauthorized_loader
    def missing_token(reason):
        return _token_error(
            "Missing or malformed Authorization header (expected 'Bearer <token>')", "missing_token"
        )

    @jwt.invalid_token_loader
    def invalid_token(reason):
        return _token_error(f"Invalid token: {reason}", "invalid_token")

    @jwt.expired_token_loader
    def expired_token(jwt_header, payload):
        return _token_error("Token has expired", "token_expired")

    @jwt.revoked_token_loader
    def revoked_token(jwt_header, payload):
        return _token_error("Token has been revoked", "token_revoked")
