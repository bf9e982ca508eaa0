"""Login sessions over their lifetime: refresh, logout and password change.

Every token carries its login session's id (claim "sid"); a session revoked in MySQL (auth_sessions) kills
its access and refresh tokens at once, in every process, and across restarts (courier.auth checks it).
"""

from flask import current_app
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from . import livehub
from .auth import (
    ACCOUNTS,
    access_token,
    check_password,
    check_password_length,
    hash_password,
    revoke_sessions,
)
from .db import execute, query, transaction
from .errors import bad_request, conflict, unauthorized


def refresh(caller):
    """A new access token in the refresh token's session (the blocklist already refused dead sessions)."""
    return access_token(caller)


def _refresh_session(caller, token):
    """The session id of a refresh token of the caller's own account, or a 400."""
    problem = "must be a refresh token of this account"
    try:
        claims = decode_token(token, allow_expired=True)
    except (PyJWTError, JWTExtendedException, ValueError):
        claims = {}
    if (
        claims.get("type") != "refresh"
        or claims.get("sub") != str(caller.id)
        or claims.get("role") != caller.role
        or not claims.get("sid")
    ):
        raise bad_request(f"refresh_token {problem}", "invalid_refresh_token", {"refresh_token": problem})
    return claims["sid"]


def logout(caller, refresh_token=None):
    """Revoke the caller's session and, if given, the refresh token's session; return how many ended."""
    session_ids = {caller.session_id}
    if refresh_token:
        session_ids.add(_refresh_session(caller, refresh_token))
    revoked = 0
    with transaction():
        for session_id in sorted(session_ids):
            _, count = execute(
                "UPDATE auth_sessions SET revoked_at = UTC_TIMESTAMP(6)"
                " WHERE session_id = %s AND user_type = %s AND user_id = %s AND revoked_at IS NULL",
                (session_id, caller.role, caller.id),
            )
            revoked += count
    livehub.hub(current_app).forget_sessions(caller.role, caller.id, session_ids)
    return revoked


def change_password(caller, old_password, new_password):
    """Check the old password, store the new one and revoke the account's other sessions.

    The caller's own session (and so its tokens) stays valid. A wrong old password is a 400
    (code wrong_password), not a 401: the token itself is fine. Returns how many sessions were revoked.
    """
    check_password_length(new_password, "new_password")
    table, id_column, _ = ACCOUNTS[caller.role]
    row = query(
        f"SELECT password FROM {table} WHERE {id_column} = %s AND deleted_at IS NULL", (caller.id,), one=True
    )
    if row is None:
        raise unauthorized("Token has been revoked", "token_revoked")
    if not check_password(row["password"], old_password):
        problem = "is not your current password"
        raise bad_request(f"old_password {problem}", "wrong_password", {"old_password": problem})
    new_hash = hash_password(new_password, "new_password")
    with transaction():
        # Compare-and-set: a concurrent change of the same password loses instead of overwriting.
        _, changed = execute(
            f"UPDATE {table} SET password = %s WHERE {id_column} = %s AND password = %s AND deleted_at IS NULL",
            (new_hash, caller.id, row["password"]),
        )
        if not changed:
            raise conflict("The password was changed at the same time; try again", "password_changed")
        return revoke_sessions(caller.role, caller.id, keep=caller.session_id)
