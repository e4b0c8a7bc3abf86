-- What a user sees of each session: when it was last used (its sign-in or
-- latest refresh; bearer checks touch no storage) and the client address
-- and user agent at that use. The user agent arrives bounded to 256 bytes;
-- the check keeps it so whatever writes the row.
ALTER TABLE sessions ADD COLUMN last_used_at bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_ip text;
ALTER TABLE sessions ADD COLUMN last_user_agent text CHECK (octet_length(last_user_agent) <= 256);
UPDATE sessions SET last_used_at = created_at;
