-- Photo and signature proof of delivery, and bulk CSV imports of orders. Two new tables; no existing row changes.

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
