-- The audit log: who (actor) did what (action) to what (target), when, with the target's
-- state before and after, as JSON text. Admin and promoter actions only.
-- Append-only: an entry can be neither changed nor deleted, whatever code runs.

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id     INTEGER NOT NULL REFERENCES users (id),
    actor_role   TEXT    NOT NULL CHECK (actor_role IN ('USER', 'COMPANY_USER', 'ADMIN')),
    action       TEXT    NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    target_type  TEXT    NOT NULL CHECK (length(target_type) BETWEEN 1 AND 32),
    target_id    INTEGER,
    before_state TEXT    CHECK (before_state IS NULL OR json_valid(before_state)),
    after_state  TEXT    CHECK (after_state IS NULL OR json_valid(after_state)),
    created_at   TEXT    NOT NULL
);
CREATE INDEX audit_log_actor  ON audit_log (actor_id);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries cannot be changed');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries cannot be deleted');
END;
