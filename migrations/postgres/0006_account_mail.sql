-- Verified e-mail addresses and the one-time tokens mailed to prove them
-- and to reset a forgotten password.
--
-- Existing administrators count as verified, so that turning on
-- PORTCULLIS_REQUIRE_VERIFIED_EMAIL never locks out the people who manage
-- the service; everyone else verifies through a link.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
UPDATE users SET email_verified = true WHERE role = 'admin';

CREATE TABLE account_tokens (
    -- SHA-256 of the token; the token itself is only ever in the mail.
    token_hash       bytea  NOT NULL PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id          uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose          text   NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    -- The user's credential epoch at issue: a password change (or any
    -- other cut-off) moves the epoch on and so voids a pending reset.
    credential_epoch bigint NOT NULL,
    expires_at       bigint NOT NULL
);

-- A newer request replaces the user's earlier token of the same purpose.
CREATE INDEX account_tokens_user_purpose ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);
