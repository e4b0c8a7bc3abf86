-- TOTP second factor (RFC 6238). The secret is sealed (AES-256-GCM under
-- PORTCULLIS_MFA_KEY, the user id as associated data) before it is stored;
-- recovery codes and pending sign-in tokens are SHA-256 hashes. Everything
-- goes with its user.
CREATE TABLE totp_enrolments (
    user_id       TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    -- NULL until a first valid code activates the enrolment.
    confirmed_at  INTEGER,
    -- The latest step a code was accepted for; a code is accepted only for
    -- a later step (compare-and-set), so none is replayed.
    last_step     INTEGER
) STRICT;

CREATE TABLE recovery_codes (
    code_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(code_hash) = 32),
    user_id   TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at   INTEGER
) STRICT;

CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- Sign-ins whose password was right, waiting for the second factor.
CREATE TABLE mfa_challenges (
    token_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account    TEXT    NOT NULL,
    network    TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    -- 1 while the login's failed-attempt reservation stands for the first
    -- code sent with this token.
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved IN (0, 1))
) STRICT;

CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- Sessions opened with a second factor: their access tokens carry
-- amr ["pwd", "otp"] across refreshes.
CREATE TABLE mfa_sessions (
    session_id TEXT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE
) STRICT;
