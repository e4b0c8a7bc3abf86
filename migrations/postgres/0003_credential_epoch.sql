-- The credential epoch: a counter that every write ending a user's
-- credentials (password change, logout everywhere, disabling, role change)
-- advances in the same transaction. Each session lives in one epoch; it and
-- the access tokens issued in it are over once the user's epoch moves past
-- it. A counter, not an instant, so two cut-offs in one second stay two.
ALTER TABLE users ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;

-- User cut-offs now hold the first valid epoch, not an instant. The old
-- rows only rejected access tokens without an epoch claim, which are no
-- longer accepted at all.
DELETE FROM revocations WHERE kind = 'user_cutoff';
