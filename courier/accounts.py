"""Accounts: customer sign-up, admin registration of couriers and admins, listing and deleting users."""

import pymysql

from . import cpu, emails, pagination
from .auth import ACCOUNTS, hash_password, revoke_sessions
from .db import execute, query, transaction
from .errors import conflict, not_found
from .validation import clean

# The columns an admin needs to see of each kind of user (never a password hash).
USER_SELECTS = {
    "customer": (
        1,
        "SELECT 1 AS type_rank, 'customer' AS user_type, customer_id AS id, name, email,"
        " NULL AS username, phone, address, created_at FROM customers",
        "customer_id",
    ),
    "delivery_person": (
        2,
        "SELECT 2 AS type_rank, 'delivery_person' AS user_type, delivery_person_id AS id, name, email,"
        " NULL AS username, phone, NULL AS address, created_at FROM delivery_persons",
        "delivery_person_id",
    ),
    "admin": (
        3,
        "SELECT 3 AS type_rank, 'admin' AS user_type, id, NULL AS name, NULL AS email, username,"
        " NULL AS phone, NULL AS address, created_at FROM admins",
        "id",
    ),
}
USER_FIELDS = {
    "customer": ("id", "user_type", "name", "email", "phone", "address", "created_at"),
    "delivery_person": ("id", "user_type", "name", "email", "phone", "created_at"),
    "admin": ("id", "user_type", "username", "created_at"),
}


def user_json(row):
    return {field: row[field] for field in USER_FIELDS[row["user_type"]]}


def get_user(user_type, user_id):
    rank, select, id_column = USER_SELECTS[user_type]
    row = query(f"{select} WHERE {id_column} = %s AND deleted_at IS NULL", (user_id,), one=True)
    return user_json(row) if row else None


def _claim_email(email, user_type, user_id):
    try:
        execute(
            "INSERT INTO account_emails (email, user_type, user_id) VALUES (%s, %s, %s)",
            (email, user_type, user_id),
        )
    except pymysql.err.IntegrityError:
        raise conflict(
            "Email is already registered", "email_taken", fields={"email": "already registered"}
        ) from None


def create_customer(body):
    """A customer's own sign-up (unauthenticated: its bcrypt work waits its turn, see cpu.run_unauthenticated)."""
    email = emails.normalise(body["email"])
    password_hash = cpu.run_unauthenticated(hash_password, body["password"])
    with transaction():
        customer_id, _ = execute(
            "INSERT INTO customers (name, email, password, address, phone) VALUES (%s, %s, %s, %s, %s)",
            (
                clean(body["name"]),
                email,
                password_hash,
                clean(body["address"]),
                clean(body.get("phone")),
            ),
        )
        _claim_email(email, "customer", customer_id)
    return get_user("customer", customer_id)


def create_courier(body):
    email = emails.normalise(body["email"])
    with transaction():
        courier_id, _ = execute(
            "INSERT INTO delivery_persons (name, email, password, phone) VALUES (%s, %s, %s, %s)",
            (clean(body["name"]), email, hash_password(body["password"]), clean(body.get("phone"))),
        )
        _claim_email(email, "delivery_person", courier_id)
    return get_user("delivery_person", courier_id)


def create_admin(body):
    try:
        with transaction():
            admin_id, _ = execute(
                "INSERT INTO admins (username, password) VALUES (%s, %s)",
                (body["username"].strip(), hash_password(body["password"])),
            )
    except pymysql.err.IntegrityError:
        raise conflict(
            "Username is already taken", "username_taken", fields={"username": "already taken"}
        ) from None
    return get_user("admin", admin_id)


def list_users(page, user_type=None):
    """One page of live users, customers first, then couriers, then admins, each by id."""
    after_rank, after_id = page.after or (0, 0)
    parts, args = [], []
    for kind, (rank, select, id_column) in USER_SELECTS.items():
        if (user_type and kind != user_type) or rank < after_rank:
            continue
        min_id = after_id if rank == after_rank else 0
        parts.append(
            f"({select} WHERE deleted_at IS NULL AND {id_column} > %s ORDER BY {id_column} LIMIT %s)"
        )
        args += [min_id, page.limit + 1]
    if not parts:
        return [], None
    rows = query(" UNION ALL ".join(parts) + " ORDER BY type_rank, id LIMIT %s", (*args, page.limit + 1))
    rows, next_cursor = pagination.finish(rows, page, lambda row: [row["type_rank"], row["id"]])
    return [user_json(row) for row in rows], next_cursor


def delete_user(user_type, user_id):
    """Close an account: it can no longer log in and its tokens stop working; its history stays."""
    table, id_column, _ = ACCOUNTS[user_type]
    with transaction():
        if user_type == "admin":
            admins = [row["id"] for row in query("SELECT id FROM admins WHERE deleted_at IS NULL FOR UPDATE")]
            if user_id not in admins:
                raise not_found("User")
            if len(admins) == 1:
                raise conflict("Cannot delete the last admin", "last_admin")
        else:
            row = query(
                f"SELECT {id_column} FROM {table} WHERE {id_column} = %s AND deleted_at IS NULL FOR UPDATE",
                (user_id,),
                one=True,
            )
            if row is None:
                raise not_found("User")
        if user_type == "delivery_person":
            active = query(
                "SELECT order_id FROM orders WHERE assigned_to = %s AND closed_at IS NULL ORDER BY order_id",
                (user_id,),
            )
            if active:
                raise conflict(
                    "This courier still has active orders; reassign or close them first",
                    "courier_has_active_orders",
                    order_ids=[row["order_id"] for row in active],
                )
        execute(f"UPDATE {table} SET deleted_at = UTC_TIMESTAMP(6) WHERE {id_column} = %s", (user_id,))
        revoke_sessions(user_type, user_id)
