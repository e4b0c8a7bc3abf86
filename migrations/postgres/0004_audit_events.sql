-- The audit trail: append-only. Each event that records a change is
-- written in the transaction of the change. Ids are UUIDv7, so their order
-- is their time order and pages are cut on them; `at` is seconds since the
-- Unix epoch. `subject` names no foreign key: a deleted user's events
-- outlive the user. `details` is a JSON object of strings and never holds
-- a secret.
CREATE TABLE audit_events (
    id         UUID   NOT NULL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    subject    UUID,
    type       TEXT   NOT NULL,
    ip         TEXT,
    request_id TEXT,
    outcome    TEXT   NOT NULL CHECK (outcome IN ('success', 'failure')),
    details    JSONB  NOT NULL DEFAULT '{}'::jsonb
);

-- The filters of GET /v1/admin/audit, each with the id for the page order;
-- `at` alone for retention.
CREATE INDEX audit_events_subject ON audit_events (subject, id);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_type ON audit_events (type, id);
CREATE INDEX audit_events_at ON audit_events (at);

-- Append-only: an event, once written, is never changed.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
