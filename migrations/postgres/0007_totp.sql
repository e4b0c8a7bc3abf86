-- TOTP second factor (RFC 6238). The secret is sealed (AES-256-GCM under
-- PORTCULLIS_MFA_KEY, the user id as associated data) before it is stored;
-- recovery codes and pending sign-in tokens are SHA-256 hashes. Everything
-- goes with its user.
CREATE TABLE totp_enrolments (
    user_id       uuid   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret bytea  NOT NULL,
    created_at    bigint NOT NULL,
    -- NULL until a first valid code activates the enrolment.
    confirmed_at  bigint,
    -- The latest step a code was accepted for; a code is accepted only for
    -- a later step (a conditional UPDATE), so none is replayed.
    last_step     bigint
);

CREATE TABLE recovery_codes (
    code_hash bytea  NOT NULL PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    user_id   uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at   bigint
);

CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- Sign-ins whose password was right, waiting for the second factor.
CREATE TABLE mfa_challenges (
    token_hash bytea  NOT NULL PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account    text   NOT NULL,
    network    text   NOT NULL,
    expires_at bigint NOT NULL,
    -- True while the login's failed-attempt reservation stands for the
    -- first code sent with this token.
    reserved   boolean NOT NULL DEFAULT false
);

CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- Sessions opened with a second factor: their access tokens carry
-- amr ["pwd", "otp"] across refreshes.
CREATE TABLE mfa_sessions (
    session_id uuid NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE
);
