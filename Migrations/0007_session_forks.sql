-- Which session each fork was made from, and where: a projection of session.forked (part of
-- the sessions projection, rebuilt with it). A session tree is walked through it both ways.
CREATE TABLE session_forks (
    session_id          BLOB    PRIMARY KEY,
    parent_session_id   BLOB    NOT NULL,
    forked_at           INTEGER NOT NULL,   -- the parent's last event the fork keeps
    sequence            INTEGER NOT NULL    -- the session.forked event
) WITHOUT ROWID;

CREATE INDEX session_forks_by_parent ON session_forks (parent_session_id, sequence);
