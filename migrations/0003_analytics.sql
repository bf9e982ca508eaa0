-- Issue 8: admin analytics. New columns, indexes and one trigger; every existing row is kept.
-- orders.failed_attempts counts an order's Failed Attempt status changes (lifecycle.set_status keeps it in the
-- same statement as the change). feedback.order_created_at and feedback.delivery_person_id are copies of the
-- rated order's creation time and courier, written by the trigger below as the feedback is inserted (both are
-- fixed by then: feedback is only given on Delivered orders). With them, every per-range figure of
-- GET /admin/analytics is read from one covering index range, without joins.

ALTER TABLE orders
  ADD COLUMN IF NOT EXISTS failed_attempts SMALLINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'Failed Attempt status changes so far (kept by lifecycle.set_status)';

ALTER TABLE feedback
  ADD COLUMN IF NOT EXISTS order_created_at DATETIME(6) NULL
    COMMENT 'orders.created_at of the rated order (set by the trigger feedback_order_facts)',
  ADD COLUMN IF NOT EXISTS delivery_person_id INT UNSIGNED NULL
    COMMENT 'the courier who delivered the rated order (set by the trigger feedback_order_facts)';

-- Existing rows get their figures from their timelines and orders. updated_at is kept: a backfill is not a
-- change of the order.
UPDATE orders o
  JOIN (SELECT order_id, COUNT(*) AS n FROM order_events
        WHERE type = 'status' AND status = 'Failed Attempt' GROUP BY order_id) f ON f.order_id = o.order_id
  SET o.failed_attempts = f.n, o.updated_at = o.updated_at;

UPDATE feedback f JOIN orders o ON o.order_id = f.order_id
  SET f.order_created_at = o.created_at, f.delivery_person_id = o.assigned_to;

ALTER TABLE orders
  ADD INDEX IF NOT EXISTS ix_orders_analytics (status, created_at, assigned_to, failed_attempts, closed_at);

ALTER TABLE feedback
  ADD INDEX IF NOT EXISTS ix_feedback_order_created (order_created_at, delivery_person_id, rating);

ALTER TABLE issues ADD INDEX IF NOT EXISTS ix_issues_created (created_at, status);

CREATE TRIGGER IF NOT EXISTS feedback_order_facts BEFORE INSERT ON feedback FOR EACH ROW
  SET NEW.order_created_at = (SELECT created_at FROM orders WHERE order_id = NEW.order_id),
    NEW.delivery_person_id = (SELECT assigned_to FROM orders WHERE order_id = NEW.order_id);
