"""One spelling per email address: NFKC, case-folded, trimmed, with no control or invisible characters.

Every email is normalised once, where it enters (sign-up, registration, login), so one account has one
spelling everywhere: in the database, in the login limiter and in the logs. `normalise_stored()` brings the
rows of an existing database to that spelling (run by init-db after the migrations) and reports, without
merging them, accounts whose addresses become the same.
"""

import logging
import unicodedata

from .errors import bad_request

log = logging.getLogger(__name__)

# Control, format (zero-width space, joiners, BOM, soft hyphen...), surrogate, private-use and unassigned.
REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
PROBLEM = "must not contain control, invisible or whitespace characters"


def canonical(raw):
    """The normal form of an address (NFKC of the case-folded NFKC, trimmed), or ValueError if it holds
    a character no address may hold."""
    value = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold()).strip()
    for ch in value:
        if unicodedata.category(ch) in REFUSED_CATEGORIES or ch.isspace():
            raise ValueError(f"U+{ord(ch):04X}")
    return value


def normalise(raw, field="email"):
    """canonical(), or a 400 naming the field."""
    try:
        return canonical(raw)
    except (ValueError, UnicodeError):
        raise bad_request(f"{field} {PROBLEM}", "invalid_fields", {field: PROBLEM}) from None


# (table, id column) of each account kind with an email.
TABLES = {
    "customer": ("customers", "customer_id"),
    "delivery_person": ("delivery_persons", "delivery_person_id"),
}


def normalise_stored(conn):
    """Rewrite stored emails to their normal form; return the collisions left alone.

    A collision is a group of accounts whose addresses become the same: they are never merged, and their
    rows keep their spelling until someone resolves them. Returns [{"email": normal form, "accounts":
    [{"user_type", "user_id", "email"}...]}]. Idempotent: a second run changes nothing.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT email, user_type, user_id FROM account_emails ORDER BY user_type, user_id")
        rows = cur.fetchall()
    groups = {}
    for row in rows:
        try:
            key = canonical(row["email"])
        except ValueError:
            key = row["email"]
        groups.setdefault(key, []).append(row)
    collisions, changed = [], 0
    for email, accounts in groups.items():
        if len(accounts) > 1:
            collisions.append(
                {
                    "email": email,
                    "accounts": [
                        {"user_type": a["user_type"], "user_id": a["user_id"], "email": a["email"]}
                        for a in accounts
                    ],
                }
            )
            continue
        (account,) = accounts
        if account["email"] == email:
            continue
        table, id_column = TABLES[account["user_type"]]
        with conn.cursor() as cur:
            cur.execute("UPDATE account_emails SET email = %s WHERE email = %s", (email, account["email"]))
            cur.execute(f"UPDATE {table} SET email = %s WHERE {id_column} = %s", (email, account["user_id"]))
        changed += 1
    if changed:
        log.info("normalised %s stored email address(es)", changed)
    for collision in collisions:
        log.warning(
            "accounts share the email %r once normalised; not merged, resolve by hand: %s",
            collision["email"],
            ", ".join(f"{a['user_type']} {a['user_id']} ({a['email']!r})" for a in collision["accounts"]),
        )
    return collisions
