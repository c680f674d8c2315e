-- Who is executing each run that has not ended: the process that recorded its request or
-- its start (host, boot, pid and the process's start time, which together never name
-- another process), and the agent process group it started. Written in the same
-- transaction as those events, removed with the run's end. Not history and not a
-- projection: a process that finds a lease whose holder is gone records the run's end
-- (`run.failed`, kind `abandoned`). `asm rebuild` leaves it as it is.
CREATE TABLE run_leases (
    run_id          BLOB    PRIMARY KEY,
    session_id      BLOB    NOT NULL,
    host            TEXT    NOT NULL,
    boot_id         TEXT    NOT NULL,
    pid             INTEGER NOT NULL,
    started         INTEGER NOT NULL,   -- the process's start, clock ticks after boot
    agent_group     INTEGER,            -- the agent CLI's process group, once started
    agent_started   INTEGER             -- the group leader's start, clock ticks after boot
) WITHOUT ROWID;

-- Runs that have not ended, for the recovery pass on open (one probe of an index that
-- holds only those runs).
CREATE INDEX runs_open ON runs (status) WHERE status IN ('requested', 'queued', 'running');
