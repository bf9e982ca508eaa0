-- Dispatch: order coordinates and delivery windows, courier capacity, depot, shift hours and on-shift state,
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
