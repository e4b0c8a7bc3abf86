-- When each revocation was recorded (or last re-recorded), in milliseconds of
-- the database's clock: replicas sharing a database poll for what was
-- recorded since they last looked.
ALTER TABLE revocations ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX revocations_recorded_at ON revocations (recorded_at);
