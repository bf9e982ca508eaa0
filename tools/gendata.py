"""`flask --app app1 gen-data --orders N`: fill the database with N realistic orders, fast.

Everything is generated inside MySQL with set-based INSERT ... SELECT statements over a numbers table,
in batches, so a million orders (and their ~5 million events) load in minutes on two cores. Orders span
the last year; only the newest ones are still active, as in a real business. Generated accounts all use the
password `password123`; customers are gen<n>-<tag>@example.test, couriers courier<n>-<tag>@example.test.
"""

import secrets
import time

import bcrypt
import pymysql

from courier.db import apply_schema, connect_args, create_database

BATCH = 50_000
SPAN_DAYS = 365
PASSWORD = "password123"

# Each order follows one path; its last step is the order's status. (type, status, minutes after placing, reason)
PATHS = {
    1: [("created", "Pending", 0, None)],
    2: [("created", "Pending", 0, None), ("assignment", "Assigned", 20, None)],
    3: [
        ("created", "Pending", 0, None),
        ("assignment", "Assigned", 20, None),
        ("status", "Picked Up", 60, None),
    ],
    4: [
        ("created", "Pending", 0, None),
        ("assignment", "Assigned", 20, None),
        ("status", "Picked Up", 60, None),
        ("status", "In Transit", 90, None),
    ],
    5: [
        ("created", "Pending", 0, None),
        ("assignment", "Assigned", 20, None),
        ("status", "Picked Up", 60, None),
        ("status", "Out for Delivery", 120, None),
        ("location", "Out for Delivery", 130, None),
    ],
    6: [
        ("created", "Pending", 0, None),
        ("assignment", "Assigned", 20, None),
        ("status", "Picked Up", 60, None),
        ("status", "Out for Delivery", 120, None),
        ("status", "Failed Attempt", 150, "recipient_unavailable"),
    ],
    7: [
        ("created", "Pending", 0, None),
        ("assignment", "Assigned", 20, None),
        ("status", "Picked Up", 60, None),
        ("status", "In Transit", 90, None),
        ("status", "Out for Delivery", 150, None),
        ("status", "Delivered", 180, None),
    ],
    8: [
        ("created", "Pending", 0, None),
        ("assignment", "Assigned", 20, None),
        ("status", "Picked Up", 60, None),
        ("status", "Out for Delivery", 120, None),
        ("status", "Failed Attempt", 150, "recipient_unavailable"),
        ("status", "Out for Delivery", 1500, None),
        ("status", "Delivered", 1530, None),
    ],
    9: [
        ("created", "Pending", 0, None),
        ("assignment", "Assigned", 20, None),
        ("status", "Picked Up", 60, None),
        ("status", "Out for Delivery", 120, None),
        ("status", "Failed Attempt", 150, "address_not_found"),
        ("status", "Returned", 2900, None),
    ],
    10: [("created", "Pending", 0, None), ("status", "Cancelled", 45, None)],
}
FINAL_PATHS = {7, 8, 9, 10}


def _path_sql(n, age):
    """SQL choosing a path from the order's number and age rank: old orders are final, new ones active."""
    h = f"MOD({n} * 2654435761, 100)"
    return (
        f"CASE WHEN {age} < @active THEN CASE WHEN {h} < 25 THEN 1 WHEN {h} < 45 THEN 2 WHEN {h} < 60 THEN 3"
        f" WHEN {h} < 70 THEN 4 WHEN {h} < 90 THEN 5 ELSE 6 END"
        f" ELSE CASE WHEN {h} < 84 THEN 7 WHEN {h} < 92 THEN 8 WHEN {h} < 95 THEN 9 ELSE 10 END END"
    )


def _run(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.rowcount


def _numbers(cur):
    """A helper table holding 0..BATCH-1."""
    _run(cur, "DROP TABLE IF EXISTS _gen_numbers")
    _run(cur, "CREATE TABLE _gen_numbers (n INT UNSIGNED NOT NULL PRIMARY KEY) ENGINE=InnoDB")
    digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    _run(
        cur,
        "INSERT INTO _gen_numbers (n) SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n"
        f" FROM ({digits}) a, ({digits}) b, ({digits}) c, ({digits}) e, ({digits}) f"
        " HAVING n < %s",
        (BATCH,),
    )
    _run(cur, "DROP TABLE IF EXISTS _gen_paths")
    _run(
        cur,
        "CREATE TABLE _gen_paths (path_id INT NOT NULL, step INT NOT NULL, type VARCHAR(20) NOT NULL,"
        " status VARCHAR(20) NOT NULL, minutes INT NOT NULL, reason VARCHAR(40) NULL, is_last TINYINT NOT NULL,"
        " PRIMARY KEY (path_id, step)) ENGINE=InnoDB",
    )
    rows = [
        (path_id, step, type_, status, minutes, reason, int(step == len(steps) - 1))
        for path_id, steps in PATHS.items()
        for step, (type_, status, minutes, reason) in enumerate(steps)
    ]
    cur.executemany("INSERT INTO _gen_paths VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def _accounts(cur, table, columns, count, email_prefix, tag, password_hash, extra_select="", extra_cols=""):
    """Insert `count` accounts in batches; return the first id."""
    first = None
    for base in range(0, count, BATCH):
        size = min(BATCH, count - base)
        _run(
            cur,
            f"INSERT INTO {table} (name, email, password{extra_cols})"
            f" SELECT CONCAT('{columns} ', %s + n + 1), CONCAT('{email_prefix}', %s + n + 1, '-', %s, '@example.test'),"
            f" %s{extra_select} FROM _gen_numbers WHERE n < %s ORDER BY n",
            (base, base, tag, password_hash, size),
        )
        if first is None:
            cur.execute("SELECT LAST_INSERT_ID() AS id")
            first = cur.fetchone()["id"]
    return first


# Dispatch data: every point lies in one city (about 16 x 15 km); the same formulas in SQL (below) and in
# Python (bench/dispatch.py), so the benchmark plans on gen-data's own geography.
CITY = {"depot": (7, 11, 3), "pickup": (7919, 104729, 17), "delivery": (15485863, 32452843, 29)}


def city_point(n, kind):
    a, b, salt = CITY[kind]
    return 40.65 + (n * a + salt) % 1500 / 10000, -74.05 + (n * b + salt) % 1800 / 10000


def _city_sql(n, kind):
    a, b, salt = CITY[kind]
    return f"40.65 + MOD({n} * {a} + {salt}, 1500) / 10000", f"-74.05 + MOD({n} * {b} + {salt}, 1800) / 10000"


def courier_capacity_kg(c):
    return 30 + c % 4 * 10


def courier_capacity_parcels(c):
    return 15 + c % 3 * 5


def order_weight_kg(n):
    return 0.5 + n % 200 / 10


def generate(config, orders, echo=print):
    """Add `orders` orders (with customers, couriers, events, positions, issues, feedback) to the database."""
    started = time.monotonic()
    conn = create_database(config)
    apply_schema(conn)
    conn.close()
    conn = pymysql.connect(**{**connect_args(config), "autocommit": False, "read_timeout": 3600})
    tag = secrets.token_hex(3)
    customers = max(10, orders // 10)
    couriers = max(3, orders // 1000)
    password_hash = bcrypt.hashpw(
        PASSWORD.encode(), bcrypt.gensalt(config.get("BCRYPT_LOG_ROUNDS", 12))
    ).decode()
    with conn.cursor() as cur:
        _run(cur, "SET SESSION foreign_key_checks = 0, unique_checks = 0")
        _numbers(cur)
        conn.commit()
        first_customer = _accounts(
            cur,
            "customers",
            "Customer",
            customers,
            "gen",
            tag,
            password_hash,
            ", CONCAT(n + 1, ' Generated Street, Springfield'), CONCAT('+1555', LPAD(n, 7, '0'))",
            ", address, phone",
        )
        _run(
            cur,
            "INSERT INTO account_emails (email, user_type, user_id) SELECT email, 'customer', customer_id"
            " FROM customers WHERE customer_id >= %s AND email LIKE %s",
            (first_customer, f"%-{tag}@example.test"),
        )
        first_courier = _accounts(
            cur,
            "delivery_persons",
            "Courier",
            couriers,
            "courier",
            tag,
            password_hash,
            ", CONCAT('+1666', LPAD(n, 7, '0')), 40.7 + MOD(n, 100) / 1000, -74.0 + MOD(n, 70) / 1000,"
            " 'Depot', UTC_TIMESTAMP(6)",
            ", phone, latitude, longitude, location, position_at",
        )
        _run(
            cur,
            "INSERT INTO account_emails (email, user_type, user_id) SELECT email, 'delivery_person',"
            " delivery_person_id FROM delivery_persons WHERE delivery_person_id >= %s AND email LIKE %s",
            (first_courier, f"%-{tag}@example.test"),
        )
        c = "(delivery_person_id - %s)"
        depot_lat, depot_lng = _city_sql(c, "depot")
        # Capacity, a depot, and a ten-hour shift around now, on shift: ready for POST /admin/dispatch/plans.
        _run(
            cur,
            f"UPDATE delivery_persons SET capacity_kg = 30 + MOD({c}, 4) * 10, capacity_parcels = 15 + MOD({c}, 3) * 5,"
            f" depot_latitude = {depot_lat}, depot_longitude = {depot_lng},"
            " shift_start = TIME(UTC_TIMESTAMP() - INTERVAL 2 HOUR), shift_end = TIME(UTC_TIMESTAMP() + INTERVAL 8 HOUR),"
            " on_shift_since = UTC_TIMESTAMP(6) WHERE delivery_person_id >= %s AND email LIKE %s",
            (first_courier,) * 5 + (f"%-{tag}@example.test",),
        )
        conn.commit()
        echo(f"  {customers} customers and {couriers} couriers ({time.monotonic() - started:.1f}s)")

        cur.execute("SELECT COALESCE(MAX(order_id), 0) + 1 AS id FROM orders")
        first_order = cur.fetchone()["id"]
        active = max(20, orders * 2 // SPAN_DAYS)
        _run(
            cur,
            "SET @active = %s, @total = %s, @span = %s, @first = %s",
            (active, orders, SPAN_DAYS * 86400, first_order),
        )
        for base in range(0, orders, BATCH):
            size = min(BATCH, orders - base)
            n = f"({base} + g.n)"
            age = f"(@total - 1 - {n})"
            path = _path_sql(n, age)
            _run(
                cur,
                "INSERT INTO orders (order_id, tracking_number, customer_id, assigned_to, status, location,"
                " latitude, longitude, position_at, pickup_address, delivery_address, recipient_name,"
                " recipient_phone, description, weight_kg, created_at, updated_at, closed_at, failed_attempts)"
                f" SELECT %s + {n}, CONCAT('CT', UPPER(LEFT(SHA2(CONCAT(%s, {n}), 256), 16))),"
                f" %s + MOD({n} * 7919, %s),"
                f" IF(p.path_id IN (1, 10), NULL, %s + MOD({n}, %s)), p.status,"
                " IF(p.path_id = 5, 'Elm Street', NULL), IF(p.path_id = 5, 40.712776, NULL),"
                " IF(p.path_id = 5, -74.005974, NULL), NULL,"
                f" CONCAT(MOD({n}, 997), ' Pickup Road, Springfield'), CONCAT(MOD({n}, 991), ' Delivery Lane, Shelbyville'),"
                f" CONCAT('Recipient ', {n}), '+15550001111', 'Parcel', 0.5 + MOD({n}, 200) / 10,"
                f" UTC_TIMESTAMP(6) - INTERVAL ({age} * @span / @total) SECOND - INTERVAL 4 HOUR,"
                f" UTC_TIMESTAMP(6) - INTERVAL ({age} * @span / @total) SECOND - INTERVAL 4 HOUR + INTERVAL p.minutes MINUTE,"
                f" IF(p.path_id IN (7, 8, 9, 10), UTC_TIMESTAMP(6) - INTERVAL ({age} * @span / @total) SECOND"
                " - INTERVAL 4 HOUR + INTERVAL p.minutes MINUTE, NULL),"
                " (SELECT COUNT(*) FROM _gen_paths f WHERE f.path_id = p.path_id AND f.status = 'Failed Attempt')"
                f" FROM _gen_numbers g JOIN _gen_paths p ON p.path_id = {path} AND p.is_last = 1"
                " WHERE g.n < %s ORDER BY g.n",
                (first_order, tag, first_customer, customers, first_courier, couriers, size),
            )
            _run(
                cur,
                "INSERT INTO order_events (order_id, type, status, note, reason, location, latitude, longitude,"
                " actor_role, actor_id, actor_name, created_at)"
                " SELECT o.order_id, p.type, p.status, NULL, p.reason,"
                " IF(p.type = 'location', 'Elm Street', NULL), IF(p.type = 'location', 40.712776, NULL),"
                " IF(p.type = 'location', -74.005974, NULL),"
                " CASE WHEN p.step = 0 THEN 'customer' WHEN p.type = 'assignment' OR p.status = 'Cancelled'"
                " THEN 'admin' ELSE 'delivery_person' END,"
                " CASE WHEN p.step = 0 THEN o.customer_id WHEN p.type = 'assignment' OR p.status = 'Cancelled'"
                " THEN NULL ELSE o.assigned_to END, NULL,"
                " o.created_at + INTERVAL p.minutes MINUTE"
                f" FROM orders o JOIN _gen_paths p ON p.path_id = {_path_sql('(o.order_id - @first)', '(@total - 1 - (o.order_id - @first))')}"
                " WHERE o.order_id BETWEEN %s AND %s ORDER BY o.order_id, p.step",
                (first_order + base, first_order + base + size - 1),
            )
            o = "(order_id - @first)"
            p_lat, p_lng = _city_sql(o, "pickup")
            d_lat, d_lng = _city_sql(o, "delivery")
            # Coordinates for every order; a delivery window (3 hours, within the next 6) on a third of the open ones.
            _run(
                cur,
                f"UPDATE orders SET pickup_latitude = {p_lat}, pickup_longitude = {p_lng},"
                f" delivery_latitude = {d_lat}, delivery_longitude = {d_lng},"
                f" window_start = IF(closed_at IS NULL AND MOD({o}, 3) = 0,"
                f"   UTC_TIMESTAMP(6) + INTERVAL MOD({o}, 4) HOUR, NULL),"
                f" window_end = IF(closed_at IS NULL AND MOD({o}, 3) = 0,"
                f"   UTC_TIMESTAMP(6) + INTERVAL MOD({o}, 4) + 3 HOUR, NULL),"
                " updated_at = updated_at WHERE order_id BETWEEN %s AND %s",
                (first_order + base, first_order + base + size - 1),
            )
            conn.commit()
            echo(f"  orders {base + size}/{orders} ({time.monotonic() - started:.1f}s)")
        last_order = first_order + orders - 1
        _run(
            cur,
            "INSERT INTO courier_positions (delivery_person_id, latitude, longitude, location, created_at,"
            " recorded_at)"
            " SELECT d.delivery_person_id, 40.7 + g.n / 1000, -74.0 - g.n / 1000, 'On the road',"
            " UTC_TIMESTAMP(6) - INTERVAL (20 - g.n) MINUTE, UTC_TIMESTAMP(6) - INTERVAL (20 - g.n) MINUTE"
            " FROM delivery_persons d JOIN _gen_numbers g ON g.n < 20 WHERE d.delivery_person_id >= %s",
            (first_courier,),
        )
        _run(
            cur,
            "INSERT INTO issues (user_type, user_id, order_id, message, status, response, created_at)"
            " SELECT 'customer', customer_id, order_id, 'Where is my parcel?',"
            " ELT(1 + MOD(order_id, 4), 'Open', 'In Progress', 'Resolved', 'Closed'),"
            " IF(MOD(order_id, 4) >= 2, 'Sorted, thanks for your patience', NULL), created_at + INTERVAL 1 DAY"
            " FROM orders WHERE order_id BETWEEN %s AND %s AND MOD(order_id, 50) = 0",
            (first_order, last_order),
        )
        _run(
            cur,
            "INSERT INTO feedback (order_id, customer_id, feedback, rating, created_at)"
            " SELECT order_id, customer_id, 'Thanks!', 5 - MOD(order_id * 7, 5) DIV 2, closed_at + INTERVAL 1 HOUR"
            " FROM orders WHERE order_id BETWEEN %s AND %s AND status = 'Delivered' AND MOD(order_id, 3) = 0",
            (first_order, last_order),
        )
        _run(cur, "DROP TABLE IF EXISTS _gen_numbers")
        _run(cur, "DROP TABLE IF EXISTS _gen_paths")
        conn.commit()
        for table in ("orders", "order_events", "customers", "delivery_persons", "issues", "feedback"):
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()
    conn.close()
    elapsed = time.monotonic() - started
    echo(f"Generated {orders} orders in {elapsed:.1f}s (accounts' password: {PASSWORD})")
    return {
        "first_order": first_order,
        "first_customer": first_customer,
        "first_courier": first_courier,
        "tag": tag,
    }
