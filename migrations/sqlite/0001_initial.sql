-- Users, sessions, refresh tokens and revocations.
--
-- Instants are seconds since the Unix epoch. Ids are UUID strings in their
-- lower-case hyphenated form, so for UUIDv7 user ids the text order is the
-- creation order and keyset pagination can use the primary key.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    -- Addresses arrive normalised to lower case; NOCASE keeps the index
    -- honest should one ever be written by other means.
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    status        TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- The last-admin rule counts active admins on every demotion and deletion.
CREATE INDEX users_role_status ON users (role, status);

CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    -- Target of the refresh tokens' key: a token's user is its session's.
    UNIQUE (id, user_id)
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    FOREIGN KEY (session_id, user_id) REFERENCES sessions (id, user_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id, user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revocations (
    -- 'token' (subject: jti), 'session' (subject: sid) or 'user_cutoff'
    -- (subject: user id, with the cut-off instant).
    kind    TEXT    NOT NULL CHECK (kind IN ('token', 'session', 'user_cutoff')),
    subject TEXT    NOT NULL,
    cutoff  INTEGER,
    until   INTEGER NOT NULL,
    PRIMARY KEY (kind, subject),
    CHECK ((kind = 'user_cutoff') = (cutoff IS NOT NULL))
) STRICT;

CREATE INDEX revocations_until ON revocations (until);
