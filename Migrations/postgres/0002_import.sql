-- Copying a log in: events exactly as recorded elsewhere (an SQLite file, another server),
-- appended after this log's head with their sequences, times and hashes. The copy is checked
-- by `asm verify` afterwards; here the rows must continue the sequence, and an empty log first
-- takes the source's chain versions.
CREATE FUNCTION asm_import(
    p_sequence bigint[], p_id uuid[], p_stream uuid[], p_version bigint[], p_run text[], p_type text[],
    p_schema integer[], p_payload text[], p_recorded_at bigint[], p_hash bytea[],
    c_version integer[], c_first bigint[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    head log_head%ROWTYPE;
    n integer := coalesce(array_length(p_sequence, 1), 0);
BEGIN
    PERFORM pg_advisory_xact_lock('log_head'::regclass::oid::bigint);
    SELECT * INTO head FROM log_head WHERE id = 1 FOR UPDATE;
    IF n = 0 THEN RETURN head.sequence; END IF;
    IF p_sequence[1] <> head.sequence + 1 THEN
        RAISE EXCEPTION 'the copy continues at sequence %, the log ends at %', p_sequence[1], head.sequence
            USING ERRCODE = 'AS006';
    END IF;
    IF c_version IS NOT NULL AND head.sequence = 0 THEN
        DELETE FROM chain_versions;
        INSERT INTO chain_versions (version, first_sequence) SELECT * FROM unnest(c_version, c_first);
        UPDATE log_head SET version2_from = (SELECT first_sequence FROM chain_versions WHERE version = 2) WHERE id = 1;
    END IF;
    INSERT INTO events (sequence, event_id, stream_id, stream_version, run_id, type, schema_version, payload,
                        recorded_at, hash)
    SELECT s, i, st, v, nullif(r, '')::uuid, t, sv, pl, at, h
    FROM unnest(p_sequence, p_id, p_stream, p_version, p_run, p_type, p_schema, p_payload, p_recorded_at, p_hash)
        AS e(s, i, st, v, r, t, sv, pl, at, h);
    UPDATE log_head SET sequence = p_sequence[n], hash = p_hash[n], recorded_at = p_recorded_at[n] WHERE id = 1;
    PERFORM pg_notify('asm_events_' || current_schema(), p_sequence[n]::text);
    RETURN p_sequence[n];
END $$;
