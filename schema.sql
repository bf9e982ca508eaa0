-- Courier Tracking System: the complete current schema.
-- Safe to re-run: every statement creates only what is missing and drops nothing.
-- MySQL 8 or MariaDB 10.6+, InnoDB, utf8mb4. All times are UTC (the app sets time_zone = '+00:00').
-- Changes to tables that already hold data ship as forward migrations in migrations/.

CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT UNSIGNED NOT NULL PRIMARY KEY,
  applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS customers (
  customer_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  email VARCHAR(254) NOT NULL,
  password VARCHAR(255) NOT NULL COMMENT 'bcrypt hash',
  address VARCHAR(500) NOT NULL,
  phone VARCHAR(40) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  deleted_at DATETIME(6) NULL,
  notify_email TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'email me about my orders',
  notify_sms TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'text me about my orders',
  KEY ix_customers_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS delivery_persons (
  delivery_person_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  email VARCHAR(254) NOT NULL,
  password VARCHAR(255) NOT NULL COMMENT 'bcrypt hash',
  phone VARCHAR(40) NULL,
  location VARCHAR(255) NULL COMMENT 'last reported location text',
  latitude DECIMAL(9,6) NULL,
  longitude DECIMAL(9,6) NULL,
  position_at DATETIME(6) NULL COMMENT 'when the last position was reported',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  deleted_at DATETIME(6) NULL,
  KEY ix_delivery_persons_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS admins (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username VARCHAR(64) NOT NULL,
  password VARCHAR(255) NOT NULL COMMENT 'bcrypt hash',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  deleted_at DATETIME(6) NULL,
  UNIQUE KEY uq_admins_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One email belongs to one account across customers and delivery persons.
-- Emails are not reused after an account is deleted, so history stays unambiguous.
CREATE TABLE IF NOT EXISTS account_emails (
  email VARCHAR(254) NOT NULL PRIMARY KEY,
  user_type VARCHAR(20) NOT NULL,
  user_id INT UNSIGNED NOT NULL,
  CONSTRAINT chk_account_emails_type CHECK (user_type IN ('customer', 'delivery_person'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A login session: every token carries its session_id; revoking the session revokes its tokens.
CREATE TABLE IF NOT EXISTS auth_sessions (
  session_id CHAR(32) NOT NULL PRIMARY KEY,
  user_type VARCHAR(20) NOT NULL,
  user_id INT UNSIGNED NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  KEY ix_auth_sessions_user (user_type, user_id),
  KEY ix_auth_sessions_expires (expires_at),
  KEY ix_auth_sessions_revoked (revoked_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS orders (
  order_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tracking_number VARCHAR(24) NOT NULL COMMENT 'random, unguessable, public',
  customer_id INT UNSIGNED NOT NULL,
  assigned_to INT UNSIGNED NULL COMMENT 'delivery_persons.delivery_person_id',
  status VARCHAR(20) NOT NULL DEFAULT 'Pending',
  location VARCHAR(255) NULL COMMENT 'last known location text',
  latitude DECIMAL(9,6) NULL,
  longitude DECIMAL(9,6) NULL,
  position_at DATETIME(6) NULL,
  pickup_address VARCHAR(500) NOT NULL,
  delivery_address VARCHAR(500) NOT NULL,
  recipient_name VARCHAR(200) NOT NULL,
  recipient_phone VARCHAR(40) NULL,
  description VARCHAR(1000) NULL,
  weight_kg DECIMAL(10,3) NULL,
  idempotency_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
    COMMENT 'compared byte for byte',
  request_hash CHAR(64) NULL COMMENT 'sha256 of the placing request, for Idempotency-Key replays',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  closed_at DATETIME(6) NULL COMMENT 'set when the order reaches a final status',
  delivery_code_hash CHAR(64) NULL
    COMMENT 'sha256 of the proof-of-delivery code (NULL: not stored yet, derived on first use)',
  code_failures TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'wrong delivery codes sent since the last unlock',
  delivery_locked_at DATETIME(6) NULL
    COMMENT 'set after too many wrong codes: an admin must review',
  UNIQUE KEY uq_orders_tracking_number (tracking_number),
  UNIQUE KEY uq_orders_idempotency (customer_id, idempotency_key),
  KEY ix_orders_customer_created (customer_id, created_at),
  KEY ix_orders_courier_closed (assigned_to, closed_at),
  KEY ix_orders_courier_created (assigned_to, created_at),
  KEY ix_orders_status_created (status, created_at),
  KEY ix_orders_created (created_at),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (customer_id),
  CONSTRAINT fk_orders_courier FOREIGN KEY (assigned_to) REFERENCES delivery_persons (delivery_person_id),
  CONSTRAINT chk_orders_status CHECK (status IN ('Pending', 'Assigned', 'Picked Up', 'In Transit',
    'Out for Delivery', 'Delivered', 'Failed Attempt', 'Returned', 'Cancelled')),
  CONSTRAINT chk_orders_weight CHECK (weight_kg IS NULL OR weight_kg > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The order's timeline. Append-only: the triggers below refuse every UPDATE and DELETE.
CREATE TABLE IF NOT EXISTS order_events (
  event_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id BIGINT UNSIGNED NOT NULL,
  type VARCHAR(20) NOT NULL COMMENT 'created, status, assignment, location',
  status VARCHAR(20) NOT NULL COMMENT 'the order status after this event',
  note VARCHAR(1000) NULL,
  reason VARCHAR(40) NULL COMMENT 'failed-attempt reason code',
  location VARCHAR(255) NULL,
  latitude DECIMAL(9,6) NULL,
  longitude DECIMAL(9,6) NULL,
  actor_role VARCHAR(20) NOT NULL COMMENT 'customer, delivery_person, admin or system',
  actor_id INT UNSIGNED NULL,
  actor_name VARCHAR(200) NULL COMMENT 'the actor''s name when the event happened',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  proof VARCHAR(20) NULL COMMENT 'Delivered events: code or admin_override',
  KEY ix_order_events_order (order_id, event_id),
  KEY ix_order_events_created (created_at),
  CONSTRAINT fk_order_events_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER IF NOT EXISTS order_events_no_update BEFORE UPDATE ON order_events FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'order_events is append-only';

CREATE TRIGGER IF NOT EXISTS order_events_no_delete BEFORE DELETE ON order_events FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'order_events is append-only';

-- Every position a courier reports (pings and batches), in the order the device took them: the trail
-- customers see while Out for Delivery. Rows older than POSITION_RETENTION_DAYS are purged.
CREATE TABLE IF NOT EXISTS courier_positions (
  position_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  delivery_person_id INT UNSIGNED NOT NULL,
  latitude DECIMAL(9,6) NULL,
  longitude DECIMAL(9,6) NULL,
  location VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    COMMENT 'when the device took the point (the trail is ordered by it)',
  KEY ix_courier_positions_trail (delivery_person_id, recorded_at),
  KEY ix_courier_positions_recorded (recorded_at),
  CONSTRAINT fk_courier_positions_courier FOREIGN KEY (delivery_person_id)
    REFERENCES delivery_persons (delivery_person_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS issues (
  issue_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_type VARCHAR(20) NOT NULL,
  user_id INT UNSIGNED NOT NULL,
  order_id BIGINT UNSIGNED NULL,
  message TEXT NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'Open',
  response TEXT NULL,
  responded_by INT UNSIGNED NULL COMMENT 'admins.id',
  responded_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  KEY ix_issues_status (status, issue_id),
  KEY ix_issues_user (user_type, user_id, issue_id),
  KEY ix_issues_order (order_id),
  CONSTRAINT fk_issues_order FOREIGN KEY (order_id) REFERENCES orders (order_id),
  CONSTRAINT fk_issues_admin FOREIGN KEY (responded_by) REFERENCES admins (id),
  CONSTRAINT chk_issues_user_type CHECK (user_type IN ('customer', 'delivery_person')),
  CONSTRAINT chk_issues_status CHECK (status IN ('Open', 'In Progress', 'Resolved', 'Closed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS feedback (
  feedback_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id BIGINT UNSIGNED NOT NULL,
  customer_id INT UNSIGNED NOT NULL,
  feedback TEXT NOT NULL,
  rating TINYINT UNSIGNED NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_feedback_order (order_id),
  KEY ix_feedback_customer (customer_id),
  CONSTRAINT fk_feedback_order FOREIGN KEY (order_id) REFERENCES orders (order_id),
  CONSTRAINT fk_feedback_customer FOREIGN KEY (customer_id) REFERENCES customers (customer_id),
  CONSTRAINT chk_feedback_rating CHECK (rating IS NULL OR rating BETWEEN 1 AND 5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Webhook endpoints registered by admins. The secret signs every delivery (HMAC-SHA256); it is shown once.
CREATE TABLE IF NOT EXISTS webhooks (
  webhook_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  url VARCHAR(2000) NOT NULL,
  events VARCHAR(1000) NOT NULL COMMENT 'comma-separated event types',
  description VARCHAR(500) NULL,
  secret VARCHAR(100) NOT NULL COMMENT 'HMAC-SHA256 key',
  created_by INT UNSIGNED NULL COMMENT 'admins.id',
  consecutive_failures INT UNSIGNED NOT NULL DEFAULT 0,
  disabled_at DATETIME(6) NULL COMMENT 'set after too many consecutive failures; an admin re-enables',
  last_success_at DATETIME(6) NULL,
  last_failure_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  deleted_at DATETIME(6) NULL,
  KEY ix_webhooks_deleted (deleted_at, webhook_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The transactional outbox: every notification is queued in the same transaction as the event behind it,
-- and `flask --app app1 worker` delivers it. due_at is when a worker may next take the row (NULL once the
-- row is sent or failed); a claimed row's due_at is the end of its lease.
CREATE TABLE IF NOT EXISTS notifications (
  notification_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  channel VARCHAR(10) NOT NULL COMMENT 'email, sms or webhook',
  event_type VARCHAR(40) NOT NULL COMMENT 'e.g. order.delivered, issue.answered, webhook.test',
  event_id CHAR(32) NOT NULL COMMENT 'one id per event, shared by all of its notifications',
  order_id BIGINT UNSIGNED NULL,
  order_event_id BIGINT UNSIGNED NULL COMMENT 'order_events.event_id behind it',
  issue_id BIGINT UNSIGNED NULL,
  webhook_id INT UNSIGNED NULL,
  recipient VARCHAR(2000) NOT NULL COMMENT 'email address, phone number or webhook URL',
  payload LONGTEXT NOT NULL COMMENT 'JSON: what to send, rendered when the event happened',
  status VARCHAR(10) NOT NULL DEFAULT 'pending',
  attempts SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  max_attempts SMALLINT UNSIGNED NULL COMMENT 'park as failed after this many attempts (NULL: give_up_at)',
  give_up_at DATETIME(6) NULL COMMENT 'park as failed after this time',
  due_at DATETIME(6) NULL,
  claim_token CHAR(32) NULL COMMENT 'the claim of the worker holding the row',
  claimed_by VARCHAR(100) NULL,
  last_status_code SMALLINT NULL,
  last_error VARCHAR(1000) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  sent_at DATETIME(6) NULL,
  KEY ix_notifications_due (due_at),
  KEY ix_notifications_status (status, notification_id),
  KEY ix_notifications_order (order_id, notification_id),
  KEY ix_notifications_webhook (webhook_id, notification_id),
  KEY ix_notifications_issue (issue_id),
  CONSTRAINT fk_notifications_order FOREIGN KEY (order_id) REFERENCES orders (order_id),
  CONSTRAINT fk_notifications_issue FOREIGN KEY (issue_id) REFERENCES issues (issue_id),
  CONSTRAINT fk_notifications_webhook FOREIGN KEY (webhook_id) REFERENCES webhooks (webhook_id),
  CONSTRAINT chk_notifications_channel CHECK (channel IN ('email', 'sms', 'webhook')),
  CONSTRAINT chk_notifications_status CHECK (status IN ('pending', 'sending', 'sent', 'failed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every delivery attempt, with the receiver's status code or the error.
CREATE TABLE IF NOT EXISTS notification_attempts (
  attempt_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  notification_id BIGINT UNSIGNED NOT NULL,
  attempt SMALLINT UNSIGNED NOT NULL,
  ok TINYINT(1) NOT NULL,
  status_code SMALLINT NULL COMMENT 'HTTP status (webhooks) or SMTP reply code (email)',
  error VARCHAR(1000) NULL,
  duration_ms INT UNSIGNED NULL,
  worker VARCHAR(100) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ix_notification_attempts (notification_id, attempt_id),
  CONSTRAINT fk_notification_attempts FOREIGN KEY (notification_id) REFERENCES notifications (notification_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Issue 8 (migration 0003): admin analytics. orders.failed_attempts counts an order's Failed Attempt status
-- changes (lifecycle.set_status keeps it in the same statement as the change); feedback.order_created_at and
-- feedback.delivery_person_id copy the rated order's creation time and courier (the trigger below writes them
-- as the feedback is inserted). With them, every per-range figure of GET /admin/analytics is read from one
-- covering index range, without joins.
ALTER TABLE orders
  ADD COLUMN IF NOT EXISTS failed_attempts SMALLINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'Failed Attempt status changes so far (kept by lifecycle.set_status)',
  ADD INDEX IF NOT EXISTS ix_orders_analytics (status, created_at, assigned_to, failed_attempts, closed_at);

ALTER TABLE feedback
  ADD COLUMN IF NOT EXISTS order_created_at DATETIME(6) NULL
    COMMENT 'orders.created_at of the rated order (set by the trigger feedback_order_facts)',
  ADD COLUMN IF NOT EXISTS delivery_person_id INT UNSIGNED NULL
    COMMENT 'the courier who delivered the rated order (set by the trigger feedback_order_facts)',
  ADD INDEX IF NOT EXISTS ix_feedback_order_created (order_created_at, delivery_person_id, rating);

ALTER TABLE issues ADD INDEX IF NOT EXISTS ix_issues_created (created_at, status);

CREATE TRIGGER IF NOT EXISTS feedback_order_facts BEFORE INSERT ON feedback FOR EACH ROW
  SET NEW.order_created_at = (SELECT created_at FROM orders WHERE order_id = NEW.order_id),
    NEW.delivery_person_id = (SELECT assigned_to FROM orders WHERE order_id = NEW.order_id);

-- Issue 17 (migration 0006): photo and signature proof of delivery, and bulk CSV imports of orders.
-- Each file a courier captured with Delivered or Failed Attempt: what it is, its size and SHA-256, and where the
-- storage backend (POD_STORAGE) keeps it. The bytes themselves are never in the database.
CREATE TABLE IF NOT EXISTS order_proofs (
  proof_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id BIGINT UNSIGNED NOT NULL,
  event_id BIGINT UNSIGNED NOT NULL COMMENT 'the Delivered or Failed Attempt event it was captured with',
  kind VARCHAR(10) NOT NULL COMMENT 'photo or signature',
  content_type VARCHAR(40) NOT NULL COMMENT 'of the stored (re-encoded) file',
  size_bytes INT UNSIGNED NOT NULL,
  sha256 CHAR(64) NOT NULL COMMENT 'of the stored file',
  storage_key VARCHAR(255) NOT NULL,
  delivery_person_id INT UNSIGNED NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ix_order_proofs_order (order_id, proof_id),
  KEY ix_order_proofs_event (event_id),
  CONSTRAINT fk_order_proofs_order FOREIGN KEY (order_id) REFERENCES orders (order_id),
  CONSTRAINT fk_order_proofs_event FOREIGN KEY (event_id) REFERENCES order_events (event_id),
  CONSTRAINT chk_order_proofs_kind CHECK (kind IN ('photo', 'signature'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One CSV upload of orders. The Idempotency-Key makes a retried upload answer the first one's report; rows it
-- created carry the idempotency_key 'import:<import_id>:<row>' on orders, so a retry never creates one twice.
CREATE TABLE IF NOT EXISTS order_imports (
  import_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_type VARCHAR(20) NOT NULL COMMENT 'admin or customer',
  user_id INT UNSIGNED NOT NULL,
  idempotency_key VARCHAR(255) NULL,
  file_sha256 CHAR(64) NOT NULL,
  atomic TINYINT(1) NOT NULL DEFAULT 0,
  status VARCHAR(10) NOT NULL DEFAULT 'running',
  rows_total INT UNSIGNED NOT NULL DEFAULT 0,
  rows_created INT UNSIGNED NOT NULL DEFAULT 0,
  rows_failed INT UNSIGNED NOT NULL DEFAULT 0,
  report LONGTEXT NULL COMMENT 'JSON: the answer given, once the import is done',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  finished_at DATETIME(6) NULL,
  UNIQUE KEY uq_order_imports_key (user_type, user_id, idempotency_key),
  CONSTRAINT chk_order_imports_status CHECK (status IN ('running', 'done'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Migration 0007: dispatch: order coordinates and delivery windows, courier capacity, depot, shift hours and on-shift state,
-- dispatch plans, and each courier's planned stop order. Only new columns and tables; every row is kept.

ALTER TABLE orders
  ADD COLUMN IF NOT EXISTS pickup_latitude DECIMAL(9,6) NULL,
  ADD COLUMN IF NOT EXISTS pickup_longitude DECIMAL(9,6) NULL,
  ADD COLUMN IF NOT EXISTS delivery_latitude DECIMAL(9,6) NULL,
  ADD COLUMN IF NOT EXISTS delivery_longitude DECIMAL(9,6) NULL,
  ADD COLUMN IF NOT EXISTS window_start DATETIME(6) NULL COMMENT 'delivery window (UTC)',
  ADD COLUMN IF NOT EXISTS window_end DATETIME(6) NULL COMMENT 'delivery window (UTC)',
  ADD COLUMN IF NOT EXISTS geocode_status VARCHAR(10) NULL
    COMMENT 'pending: the worker geocodes the addresses; done or failed afterwards';

ALTER TABLE orders ADD INDEX IF NOT EXISTS ix_orders_geocode (geocode_status);

ALTER TABLE delivery_persons
  ADD COLUMN IF NOT EXISTS capacity_kg DECIMAL(10,3) NOT NULL DEFAULT 50.000,
  ADD COLUMN IF NOT EXISTS capacity_parcels SMALLINT UNSIGNED NOT NULL DEFAULT 20,
  ADD COLUMN IF NOT EXISTS depot_latitude DECIMAL(9,6) NULL COMMENT 'where the day starts and ends',
  ADD COLUMN IF NOT EXISTS depot_longitude DECIMAL(9,6) NULL,
  ADD COLUMN IF NOT EXISTS shift_start TIME NOT NULL DEFAULT '08:00:00' COMMENT 'UTC',
  ADD COLUMN IF NOT EXISTS shift_end TIME NOT NULL DEFAULT '18:00:00' COMMENT 'UTC; before shift_start: next day',
  ADD COLUMN IF NOT EXISTS on_shift_since DATETIME(6) NULL COMMENT 'NULL: off shift';

ALTER TABLE delivery_persons ADD INDEX IF NOT EXISTS ix_delivery_persons_on_shift (on_shift_since);

-- A dispatch plan: what the solver proposed (JSON) and a fingerprint of the orders and couriers it read,
-- so that applying it after any of them changed answers 409 plan_stale.
CREATE TABLE IF NOT EXISTS dispatch_plans (
  plan_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  created_by INT UNSIGNED NULL COMMENT 'admins.id',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  start_at DATETIME(6) NOT NULL,
  fingerprint CHAR(64) NOT NULL,
  body LONGTEXT NOT NULL COMMENT 'JSON: routes, unassigned, totals',
  applied_at DATETIME(6) NULL,
  applied_by INT UNSIGNED NULL COMMENT 'admins.id',
  KEY ix_dispatch_plans_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each courier's stops in planned order (replaced when a plan is applied or the route re-optimised).
CREATE TABLE IF NOT EXISTS route_stops (
  delivery_person_id INT UNSIGNED NOT NULL,
  seq SMALLINT UNSIGNED NOT NULL,
  order_id BIGINT UNSIGNED NOT NULL,
  stop_type VARCHAR(10) NOT NULL,
  PRIMARY KEY (delivery_person_id, seq),
  KEY ix_route_stops_order (order_id),
  CONSTRAINT fk_route_stops_courier FOREIGN KEY (delivery_person_id)
    REFERENCES delivery_persons (delivery_person_id),
  CONSTRAINT fk_route_stops_order FOREIGN KEY (order_id) REFERENCES orders (order_id),
  CONSTRAINT chk_route_stops_type CHECK (stop_type IN ('pickup', 'delivery'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ETAs: each open order's current ETA and window, arrival, and the predictions kept to measure accuracy
-- (the first ETA at Out for Delivery, the last before arrival, the error once Delivered), in a table of
-- their own so that recomputing them after a ping never locks an order (no foreign key either: its check
-- would take a shared lock on the order row; rows are written only for existing orders). orders.late_risk is the flag the
-- admin list filters on (written only when it changes).

ALTER TABLE orders ADD COLUMN IF NOT EXISTS late_risk TINYINT(1) NOT NULL DEFAULT 0
  COMMENT 'the latest ETA is after the delivery window (or SLA_HOURS)';
ALTER TABLE orders ADD INDEX IF NOT EXISTS ix_orders_late_risk (late_risk, created_at);
ALTER TABLE customers ADD COLUMN IF NOT EXISTS notify_arriving_soon TINYINT(1) NOT NULL DEFAULT 0
  COMMENT 'opted in to an arriving-soon email/SMS';

CREATE TABLE IF NOT EXISTS order_etas (
  order_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  delivery_person_id INT UNSIGNED NULL COMMENT 'the courier whose route the ETA follows',
  expected DATETIME(6) NULL COMMENT 'current ETA (UTC); NULL: unknown, see reason',
  earliest DATETIME(6) NULL,
  latest DATETIME(6) NULL,
  stops_before SMALLINT UNSIGNED NULL,
  updated_at DATETIME(6) NOT NULL,
  reason VARCHAR(20) NULL COMMENT 'why there is no ETA: no_coordinates, no_position',
  first_expected DATETIME(6) NULL COMMENT 'the ETA given when the order went Out for Delivery',
  last_expected DATETIME(6) NULL COMMENT 'the last ETA before arrival, and its window',
  last_earliest DATETIME(6) NULL,
  last_latest DATETIME(6) NULL,
  arrived_at DATETIME(6) NULL COMMENT 'a ping came within ARRIVAL_RADIUS_M of the delivery point',
  delivered_at DATETIME(6) NULL,
  error_seconds INT NULL COMMENT 'Delivered: actual arrival minus last_expected',
  abs_error_seconds INT UNSIGNED NULL,
  in_window TINYINT(1) NULL COMMENT 'Delivered: actual arrival between last_earliest and last_latest',
  arriving_soon_at DATETIME(6) NULL COMMENT 'when the customer was told the courier is ARRIVING_SOON_STOPS away',
  KEY ix_order_etas_delivered (delivered_at, delivery_person_id, abs_error_seconds, in_window)
    COMMENT 'covers the analytics eta block and the window history'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The schema above includes every migration up to this version.
INSERT IGNORE INTO schema_migrations (version) VALUES (1), (2), (3), (4), (5), (6), (7), (8);
