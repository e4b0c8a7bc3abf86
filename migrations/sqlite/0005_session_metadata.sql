-- What a user sees of each session: when it was last used (its sign-in or
-- latest refresh; bearer checks touch no storage) and the client address
-- and user agent at that use. The user agent arrives bounded to 256 bytes.
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_user_agent TEXT;
UPDATE sessions SET last_used_at = created_at;
