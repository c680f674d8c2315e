-- Which session each session was started under, when its creator named one (session.created's
-- parent_session_id, parent_run_id, parent_call_id): a sub-agent's session under the session
-- and run that started it, a session started by another agent's tool call under that call.
-- Part of the sessions projection, rebuilt with it; forks keep their own table (session_forks).
CREATE TABLE session_parents (
    session_id          BLOB    PRIMARY KEY,
    parent_session_id   BLOB    NOT NULL,
    parent_run_id       BLOB,
    parent_call_id      TEXT,
    sequence            INTEGER NOT NULL    -- the session.created event
) WITHOUT ROWID;

CREATE INDEX session_parents_by_parent ON session_parents (parent_session_id, sequence);
