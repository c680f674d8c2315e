-- Tool approvals a policy asked for, and their fate: a projection (derived from
-- tool_approval.requested, tool_approval.resolved and the run's end, rebuilt by `asm rebuild`).
CREATE TABLE approvals (
    approval_id         TEXT    PRIMARY KEY,
    session_id          BLOB    NOT NULL,
    run_id              BLOB    NOT NULL,
    call_id             TEXT,
    tool                TEXT    NOT NULL,
    input               TEXT,               -- JSON
    policy              TEXT    NOT NULL,
    rule                TEXT    NOT NULL,
    can_block           INTEGER NOT NULL,   -- the tool waits for the answer
    requested_at        INTEGER NOT NULL,   -- microseconds since the epoch
    requested_sequence  INTEGER NOT NULL,
    deadline            INTEGER,            -- when it is denied for want of an answer
    status              TEXT    NOT NULL,   -- pending | approved | denied | closed
    resolved_by         TEXT,
    reason              TEXT,
    resolved_at         INTEGER,
    resolved_sequence   INTEGER
) WITHOUT ROWID;

CREATE INDEX approvals_pending ON approvals (requested_sequence) WHERE status = 'pending';
CREATE INDEX approvals_by_session ON approvals (session_id, requested_sequence);
CREATE INDEX approvals_by_run ON approvals (run_id) WHERE status = 'pending';
