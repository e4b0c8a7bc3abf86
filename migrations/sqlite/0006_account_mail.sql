-- Verified e-mail addresses and the one-time tokens mailed to prove them
-- and to reset a forgotten password.
--
-- Existing administrators count as verified, so that turning on
-- PORTCULLIS_REQUIRE_VERIFIED_EMAIL never locks out the people who manage
-- the service; everyone else verifies through a link.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
UPDATE users SET email_verified = 1 WHERE role = 'admin';

CREATE TABLE account_tokens (
    -- SHA-256 of the token; the token itself is only ever in the mail.
    token_hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id          TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose          TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    -- The user's credential epoch at issue: a password change (or any
    -- other cut-off) moves the epoch on and so voids a pending reset.
    credential_epoch INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;

-- A newer request replaces the user's earlier token of the same purpose.
CREATE INDEX account_tokens_user_purpose ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);
