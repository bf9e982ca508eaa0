-- Issue 7: notification preferences, proof-of-delivery codes, the notification outbox and webhooks.
-- Adds columns with defaults and new tables; every existing row is kept.

ALTER TABLE customers
  ADD COLUMN IF NOT EXISTS notify_email TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'email me about my orders',
  ADD COLUMN IF NOT EXISTS notify_sms TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'text me about my orders';

ALTER TABLE orders
  ADD COLUMN IF NOT EXISTS delivery_code_hash CHAR(64) NULL
    COMMENT 'sha256 of the proof-of-delivery code (NULL: not stored yet, derived on first use)',
  ADD COLUMN IF NOT EXISTS code_failures TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'wrong delivery codes sent since the last unlock',
  ADD COLUMN IF NOT EXISTS delivery_locked_at DATETIME(6) NULL
    COMMENT 'set after too many wrong codes: an admin must review';

ALTER TABLE order_events
  ADD COLUMN IF NOT EXISTS proof VARCHAR(20) NULL COMMENT 'Delivered events: code or admin_override';

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
