-- When each revocation was recorded (or last re-recorded), in milliseconds of
-- the database server's clock: replicas poll for what was recorded since they
-- last looked, so a revocation on one replica reaches the others.
ALTER TABLE revocations ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX revocations_recorded_at ON revocations (recorded_at);
