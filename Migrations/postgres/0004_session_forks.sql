-- Which session each fork was made from, and where: a projection of session.forked (part of
-- the sessions projection, rebuilt with it).
CREATE TABLE session_forks (
    session_id          uuid    PRIMARY KEY,
    parent_session_id   uuid    NOT NULL,
    forked_at           bigint  NOT NULL,
    sequence            bigint  NOT NULL
);

CREATE INDEX session_forks_by_parent ON session_forks (parent_session_id, sequence);

-- asm_project() gains the fork's write; every other write is the function of 0001.
ALTER FUNCTION asm_project(integer, jsonb, bigint, uuid, uuid, bigint) RENAME TO asm_project_0001;

CREATE FUNCTION asm_project(
    op integer, a jsonb, p_sequence bigint, p_stream uuid, p_run uuid, p_recorded_at bigint
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF op = 13 THEN -- session forked: parent session, forked at
        INSERT INTO session_forks (session_id, parent_session_id, forked_at, sequence)
        VALUES (p_stream, (a->>0)::uuid, (a->>1)::bigint, p_sequence)
        ON CONFLICT (session_id) DO NOTHING;
    ELSE
        PERFORM asm_project_0001(op, a, p_sequence, p_stream, p_run, p_recorded_at);
    END IF;
END $$;
