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
