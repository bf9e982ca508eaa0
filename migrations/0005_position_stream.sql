-- The position stream: a courier's ping writes their latest position (delivery_persons) and one trail row
-- (courier_positions); it no longer adds order_events rows or touches orders. Every existing row is kept,
-- existing `location` events included.
-- courier_positions.recorded_at is when the device took the point (a batch sent after a dead zone carries
-- older points); the trail is ordered by it. Existing rows get their arrival time. The trail index moves
-- to (delivery_person_id, recorded_at); (recorded_at) lets purge-positions find old rows in small batches.
-- auth_sessions.revoked_at is indexed so that one reader per process can see every revocation.

ALTER TABLE courier_positions
  ADD COLUMN IF NOT EXISTS recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    COMMENT 'when the device took the point (the trail is ordered by it)';

UPDATE courier_positions SET recorded_at = created_at;

ALTER TABLE courier_positions
  ADD INDEX IF NOT EXISTS ix_courier_positions_trail (delivery_person_id, recorded_at),
  ADD INDEX IF NOT EXISTS ix_courier_positions_recorded (recorded_at);

ALTER TABLE courier_positions DROP INDEX IF EXISTS ix_courier_positions_courier;

ALTER TABLE auth_sessions ADD INDEX IF NOT EXISTS ix_auth_sessions_revoked (revoked_at);
