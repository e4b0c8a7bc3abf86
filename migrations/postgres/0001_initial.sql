-- Users, sessions, refresh tokens and revocations.
--
-- Instants are seconds since the Unix epoch (bigint), as in the SQLite
-- schema. Ids are native uuids; user ids are UUIDv7, which PostgreSQL
-- orders bytewise, so the primary key's order is the creation order and
-- keyset pagination walks the primary-key index.

CREATE TABLE users (
    id            uuid   NOT NULL PRIMARY KEY,
    email         text   NOT NULL,
    password_hash text   NOT NULL,
    role          text   NOT NULL CHECK (role IN ('user', 'admin')),
    status        text   NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL
);

-- Addresses arrive normalised to lower case, but this index is the
-- guarantee: two racing registrations of one address, in any case, end in
-- one row and one unique violation on this name, which the adapter turns
-- into "email taken". Lookups by address use it too.
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

-- The last-admin rule asks for the other active admins on every demotion
-- and deletion; there are few of them, so a partial index stays small.
CREATE INDEX users_active_admins ON users (id) WHERE role = 'admin' AND status = 'active';

CREATE TABLE sessions (
    id         uuid   NOT NULL PRIMARY KEY,
    user_id    uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    revoked_at bigint,
    -- Target of the refresh tokens' key: a token's user is its session's.
    UNIQUE (id, user_id)
);

CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash bytea  NOT NULL PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_id uuid   NOT NULL,
    user_id    uuid   NOT NULL,
    issued_at  bigint NOT NULL,
    expires_at bigint NOT NULL,
    rotated_at bigint,
    FOREIGN KEY (session_id, user_id) REFERENCES sessions (id, user_id) ON DELETE CASCADE
);

CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id, user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revocations (
    -- 'token' (subject: jti), 'session' (subject: sid) or 'user_cutoff'
    -- (subject: user id, with the cut-off instant).
    kind    text   NOT NULL CHECK (kind IN ('token', 'session', 'user_cutoff')),
    subject uuid   NOT NULL,
    cutoff  bigint,
    until   bigint NOT NULL,
    PRIMARY KEY (kind, subject),
    CHECK ((kind = 'user_cutoff') = (cutoff IS NOT NULL))
);

CREATE INDEX revocations_until ON revocations (until);
