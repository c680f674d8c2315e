-- Which session each session was started under, when its creator named one (the SQLite file's
-- is Migrations/0009_session_parents.sql): part of the sessions projection, rebuilt with it.
CREATE TABLE session_parents (
    session_id          uuid    PRIMARY KEY,
    parent_session_id   uuid    NOT NULL,
    parent_run_id       uuid,
    parent_call_id      text,
    sequence            bigint  NOT NULL
);

CREATE INDEX session_parents_by_parent ON session_parents (parent_session_id, sequence);

-- asm_project() gains the parent's write beside the fork's (0004); every other write is the
-- function of 0001.
CREATE OR REPLACE FUNCTION asm_project(
    op integer, a jsonb, p_sequence bigint, p_stream uuid, p_run uuid, p_recorded_at bigint
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF op = 13 THEN -- session forked: parent session, forked at
        INSERT INTO session_forks (session_id, parent_session_id, forked_at, sequence)
        VALUES (p_stream, (a->>0)::uuid, (a->>1)::bigint, p_sequence)
        ON CONFLICT (session_id) DO NOTHING;
    ELSIF op = 14 THEN -- session started under a parent: parent session, run, tool call
        INSERT INTO session_parents (session_id, parent_session_id, parent_run_id, parent_call_id, sequence)
        VALUES (p_stream, (a->>0)::uuid, nullif(a->>1, '')::uuid, a->>2, p_sequence)
        ON CONFLICT (session_id) DO NOTHING;
    ELSE
        PERFORM asm_project_0001(op, a, p_sequence, p_stream, p_run, p_recorded_at);
    END IF;
END $$;
