-- The event log on PostgreSQL: the same contract as the SQLite file, in one schema.
--
-- `sequence` is contiguous and in commit order: every append goes through asm_append(), which
-- takes a transaction-scoped advisory lock keyed by this schema's head row before it reads the
-- head, so appends are serialised through their commit (the hash chain needs the previous hash
-- anyway) and a reader that reads `sequence > cursor` never passes an event that commits later.
-- Identifiers are uuid; payloads are text holding the canonical JSON bytes exactly as hashed.

CREATE TABLE events (
    sequence        bigint  PRIMARY KEY,
    event_id        uuid    NOT NULL UNIQUE,
    stream_id       uuid    NOT NULL,
    stream_version  bigint  NOT NULL,
    run_id          uuid,
    type            text    NOT NULL,
    schema_version  integer NOT NULL,
    payload         text    NOT NULL,
    recorded_at     bigint  NOT NULL,   -- microseconds since the epoch
    hash            bytea   NOT NULL,
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_by_run ON events (run_id, sequence) WHERE run_id IS NOT NULL;

-- History is never rewritten.
CREATE FUNCTION asm_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'AS009';
END $$;

CREATE TRIGGER events_are_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION asm_refuse_change();
CREATE TRIGGER events_are_never_truncated BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION asm_refuse_change();

-- The chain's head: one row, locked by every append.
CREATE TABLE log_head (
    id           integer PRIMARY KEY CHECK (id = 1),
    sequence     bigint  NOT NULL,
    hash         bytea   NOT NULL,
    recorded_at  bigint  NOT NULL,
    -- The first sequence linked under chain version 2 (payload digests); NULL while the log is
    -- at version 1 (a log copied from an older SQLite file).
    version2_from bigint
);

-- Chain versions, as in the SQLite file (version 2 from `first_sequence` on).
CREATE TABLE chain_versions (
    version         integer PRIMARY KEY,
    first_sequence  bigint  NOT NULL
);

-- A new log links every event under version 2 from its first; a copied log replaces these rows.
INSERT INTO log_head (id, sequence, hash, recorded_at, version2_from)
VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000', 0, 1);
INSERT INTO chain_versions (version, first_sequence) VALUES (2, 1);

-- Projections: derived from the events alone, updated in the append's transaction from the
-- writes each append carries (computed by the appending process from the typed events), and
-- rebuilt from the log by `asm rebuild`.
CREATE TABLE projection_checkpoints (
    name      text    PRIMARY KEY,
    version   integer NOT NULL,
    sequence  bigint  NOT NULL
);

CREATE TABLE sessions (
    session_id      uuid    PRIMARY KEY,
    agent_id        text    NOT NULL,
    status          text    NOT NULL,
    metadata        text    NOT NULL,
    tags            text    NOT NULL,
    created_at      bigint  NOT NULL,
    first_sequence  bigint  NOT NULL,
    run_count       integer NOT NULL,
    failure_reason  text
);

CREATE TABLE runs (
    run_id               uuid   PRIMARY KEY,
    session_id           uuid   NOT NULL,
    status               text   NOT NULL,
    provider             text,
    model                text,
    provider_session_id  text,
    requested_at         bigint NOT NULL,
    started_at           bigint,
    ended_at             bigint,
    first_sequence       bigint NOT NULL,
    end_sequence         bigint,
    failure_kind         text,
    failure_message      text,
    cancel_reason        text
);

CREATE INDEX runs_by_session ON runs (session_id, first_sequence);
CREATE INDEX runs_open ON runs (status) WHERE status IN ('requested', 'queued', 'running');

CREATE TABLE transcript (
    session_id  uuid   NOT NULL,
    sequence    bigint NOT NULL,
    run_id      uuid,
    role        text   NOT NULL,
    provider    text,
    PRIMARY KEY (session_id, sequence)
);

CREATE TABLE usage (
    run_id                   uuid    NOT NULL,
    provider                 text    NOT NULL,
    model                    text    NOT NULL,
    session_id               uuid    NOT NULL,
    input_tokens             bigint  NOT NULL,
    output_tokens            bigint  NOT NULL,
    cache_read_tokens        bigint  NOT NULL,
    cache_write_tokens       bigint  NOT NULL,
    reasoning_tokens         bigint  NOT NULL,
    cost_nano_usd            bigint  NOT NULL,
    reported_cost_nano_usd   bigint,
    price_table              text,
    updates                  bigint  NOT NULL,
    last_sequence            bigint  NOT NULL,
    PRIMARY KEY (run_id, provider, model)
);

CREATE INDEX usage_session_index ON usage (session_id);

CREATE TABLE approvals (
    approval_id         text    PRIMARY KEY,
    session_id          uuid    NOT NULL,
    run_id              uuid    NOT NULL,
    call_id             text,
    tool                text    NOT NULL,
    input               text,
    policy              text    NOT NULL,
    rule                text    NOT NULL,
    can_block           integer NOT NULL,
    requested_at        bigint  NOT NULL,
    requested_sequence  bigint  NOT NULL,
    deadline            bigint,
    status              text    NOT NULL,
    resolved_by         text,
    reason              text,
    resolved_at         bigint,
    resolved_sequence   bigint
);

CREATE INDEX approvals_pending ON approvals (requested_sequence) WHERE status = 'pending';
CREATE INDEX approvals_by_session ON approvals (session_id, requested_sequence);
CREATE INDEX approvals_by_run ON approvals (run_id) WHERE status = 'pending';

-- Durable consumers' checkpoints, moved forward in the consumer's own transaction.
CREATE TABLE consumers (
    name        text    PRIMARY KEY,
    position    bigint  NOT NULL CHECK (position >= 0),
    created_at  bigint  NOT NULL,
    updated_at  bigint  NOT NULL
);

-- Who executes each run that has not ended (see the SQLite file's run_leases).
CREATE TABLE run_leases (
    run_id          uuid    PRIMARY KEY,
    session_id      uuid    NOT NULL,
    host            text    NOT NULL,
    boot_id         text    NOT NULL,
    pid             integer NOT NULL,
    started         bigint  NOT NULL,
    agent_group     integer,
    agent_started   bigint
);

-- Applies one projection write. `op` names the write, `a` holds its arguments as a JSON array of
-- strings (or nulls); the position comes from the event it belongs to.
CREATE FUNCTION asm_project(
    op integer, a jsonb, p_sequence bigint, p_stream uuid, p_run uuid, p_recorded_at bigint
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE op
    WHEN 1 THEN -- session created: agent_id, metadata, tags
        INSERT INTO sessions (session_id, agent_id, status, metadata, tags, created_at, first_sequence, run_count)
        VALUES (p_stream, a->>0, 'created', a->>1, a->>2, p_recorded_at, p_sequence, 0)
        ON CONFLICT (session_id) DO NOTHING;
    WHEN 2 THEN -- session status: status, reason
        UPDATE sessions SET status = a->>0, failure_reason = coalesce(a->>1, failure_reason)
        WHERE session_id = p_stream;
    WHEN 3 THEN -- run requested: provider, model
        IF p_run IS NOT NULL AND NOT EXISTS (SELECT 1 FROM runs WHERE run_id = p_run) THEN
            INSERT INTO runs (run_id, session_id, status, provider, model, requested_at, first_sequence)
            VALUES (p_run, p_stream, 'requested', a->>0, a->>1, p_recorded_at, p_sequence);
            UPDATE sessions SET run_count = run_count + 1 WHERE session_id = p_stream;
        END IF;
    WHEN 4 THEN -- run queued
        UPDATE runs SET status = 'queued' WHERE run_id = p_run AND status = 'requested';
    WHEN 5 THEN -- run started: provider, model, provider_session_id
        IF p_run IS NULL THEN RETURN; END IF;
        IF EXISTS (SELECT 1 FROM runs WHERE run_id = p_run) THEN
            UPDATE runs SET
                status = CASE WHEN status IN ('requested', 'queued', 'running') THEN 'running' ELSE status END,
                provider = a->>0, model = coalesce(a->>1, model),
                provider_session_id = coalesce(a->>2, provider_session_id),
                started_at = coalesce(started_at, p_recorded_at)
            WHERE run_id = p_run;
        ELSE
            INSERT INTO runs (run_id, session_id, status, provider, model, provider_session_id, requested_at,
                              started_at, first_sequence)
            VALUES (p_run, p_stream, 'running', a->>0, a->>1, a->>2, p_recorded_at, p_recorded_at, p_sequence);
            UPDATE sessions SET run_count = run_count + 1 WHERE session_id = p_stream;
        END IF;
    WHEN 6 THEN -- run ended: status, failure kind, message, cancel reason, provider_session_id
        UPDATE runs SET status = a->>0, ended_at = p_recorded_at, failure_kind = a->>1, failure_message = a->>2,
            cancel_reason = a->>3, provider_session_id = coalesce(a->>4, provider_session_id),
            end_sequence = p_sequence
        WHERE run_id = p_run AND status IN ('requested', 'queued', 'running');
        UPDATE approvals SET status = 'closed',
            reason = 'the run ended: ' || (a->>0) || coalesce(' (' || (a->>1) || ')', ''),
            resolved_at = p_recorded_at, resolved_sequence = p_sequence
        WHERE run_id = p_run AND status = 'pending';
    WHEN 7 THEN -- message: role
        INSERT INTO transcript (session_id, sequence, run_id, role, provider)
        VALUES (p_stream, p_sequence, p_run, a->>0, (SELECT provider FROM runs WHERE run_id = p_run));
    WHEN 8 THEN -- usage: provider, model, input, output, cache read, cache write, reasoning, cost,
                -- reported cost, price table
        INSERT INTO usage AS u (run_id, provider, model, session_id, input_tokens, output_tokens, cache_read_tokens,
                           cache_write_tokens, reasoning_tokens, cost_nano_usd, reported_cost_nano_usd,
                           price_table, updates, last_sequence)
        VALUES (coalesce(p_run, '00000000-0000-0000-0000-000000000000'),
                coalesce(a->>0, (SELECT provider FROM runs WHERE run_id = p_run), ''),
                coalesce(a->>1, (SELECT model FROM runs WHERE run_id = p_run), ''),
                p_stream, (a->>2)::bigint, (a->>3)::bigint, (a->>4)::bigint, (a->>5)::bigint, (a->>6)::bigint,
                (a->>7)::bigint, (a->>8)::bigint, a->>9, 1, p_sequence)
        ON CONFLICT (run_id, provider, model) DO UPDATE SET
            input_tokens = u.input_tokens + excluded.input_tokens,
            output_tokens = u.output_tokens + excluded.output_tokens,
            cache_read_tokens = u.cache_read_tokens + excluded.cache_read_tokens,
            cache_write_tokens = u.cache_write_tokens + excluded.cache_write_tokens,
            reasoning_tokens = u.reasoning_tokens + excluded.reasoning_tokens,
            cost_nano_usd = u.cost_nano_usd + excluded.cost_nano_usd,
            reported_cost_nano_usd = coalesce(excluded.reported_cost_nano_usd, u.reported_cost_nano_usd),
            price_table = coalesce(excluded.price_table, u.price_table),
            updates = u.updates + 1,
            last_sequence = excluded.last_sequence;
    WHEN 9 THEN -- approval requested: id, call, tool, input, policy, rule, can_block, deadline
        IF p_run IS NULL THEN RETURN; END IF;
        INSERT INTO approvals (approval_id, session_id, run_id, call_id, tool, input, policy, rule, can_block,
                               requested_at, requested_sequence, deadline, status)
        VALUES (a->>0, p_stream, p_run, a->>1, a->>2, a->>3, a->>4, a->>5, (a->>6)::integer, p_recorded_at,
                p_sequence, (a->>7)::bigint, 'pending')
        ON CONFLICT (approval_id) DO NOTHING;
    WHEN 10 THEN -- approval resolved: id, status, by, reason
        UPDATE approvals SET status = a->>1, resolved_by = a->>2, reason = a->>3, resolved_at = p_recorded_at,
            resolved_sequence = p_sequence
        WHERE approval_id = a->>0 AND status = 'pending';
    -- Not projections (a rebuild leaves them alone): a durable consumer registered with its
    -- registration event, and moved by its reset event.
    WHEN 11 THEN -- consumer registered: name, start ('beginning', 'end' or 'after'), after
        INSERT INTO consumers (name, position, created_at, updated_at)
        VALUES (a->>0, CASE a->>1 WHEN 'beginning' THEN 0 WHEN 'end' THEN p_sequence
                       ELSE least(greatest(0, (a->>2)::bigint), p_sequence - 1) END, p_recorded_at, p_recorded_at)
        ON CONFLICT (name) DO NOTHING;
    WHEN 12 THEN -- consumer reset: name, position
        UPDATE consumers SET position = (a->>1)::bigint, updated_at = p_recorded_at WHERE name = a->>0;
    ELSE
        RAISE EXCEPTION 'unknown projection write %', op USING ERRCODE = 'AS008';
    END CASE;
END $$;

-- Appends batches, each to one stream, in one transaction: the writes of one process's
-- concurrent appenders grouped into one commit. Each batch is checked and written in its own
-- subtransaction, so one refused batch (a version conflict, say) leaves the others committed;
-- every refusal is a row of the result, never a half-written batch.
--
-- Per batch (arrays of length B): stream, expected kind (0 any, 1 no stream, 2 stream exists,
-- 3 exact, 4 none since), expected version, the types `none since` watches (a JSON array),
-- how many events, breaker checks ("provider\tsince" lines) and approvals it resolves ('' for
-- none). Per event (length N, batches' events back to back): id, run ('' for none), type,
-- schema version, payload. Projection writes (length W): the event's index in the call
-- (0-based), the write, its arguments (a JSON array). The lease owner (NULL for none): host,
-- boot id, pid, start time.
CREATE FUNCTION asm_append(
    b_stream uuid[], b_kind integer[], b_version bigint[], b_types text[], b_count integer[],
    b_breakers text[], b_approvals text[],
    e_id uuid[], e_run text[], e_type text[], e_schema integer[], e_payload text[],
    w_event integer[], w_op integer[], w_args text[],
    p_now bigint, o_host text, o_boot text, o_pid integer, o_started bigint,
    OUT r_code text, OUT r_message text, OUT r_first_sequence bigint, OUT r_first_version bigint,
    OUT r_recorded_at bigint, OUT r_already boolean, OUT r_hashes bytea[]
) RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
    head log_head%ROWTYPE;
    b integer;
    e integer := 0;           -- index of the batch's first event in the e_ arrays (0-based)
    w integer := 1;           -- next projection write (1-based)
    i integer;
    n integer;
    current_version bigint;
    existing events%ROWTYPE;
    stored events%ROWTYPE;
    seq bigint;
    ver bigint;
    at bigint;
    prev bytea;
    hashes bytea[];
    body bytea;
    type_bytes bytea;
    run uuid;
    line text;
    found_type text;
    found_seq bigint;
    approval_status text;
    approval_by text;
    notify_head bigint := NULL;
BEGIN
    PERFORM pg_advisory_xact_lock('log_head'::regclass::oid::bigint);
    SELECT * INTO head FROM log_head WHERE id = 1 FOR UPDATE;
    FOR b IN 1 .. coalesce(array_length(b_stream, 1), 0) LOOP
        n := b_count[b];
        r_code := NULL; r_message := NULL; r_first_sequence := NULL; r_first_version := NULL;
        r_recorded_at := NULL; r_already := false; r_hashes := NULL;
        BEGIN
            -- A retry of a committed batch: every event recorded, in order, unchanged.
            SELECT * INTO existing FROM events WHERE event_id = e_id[e + 1];
            IF FOUND THEN
                FOR i IN 1 .. n LOOP
                    SELECT * INTO stored FROM events WHERE event_id = e_id[e + i];
                    IF NOT FOUND OR stored.stream_id <> b_stream[b] OR stored.sequence <> existing.sequence + i - 1
                        OR stored.stream_version <> existing.stream_version + i - 1 OR stored.type <> e_type[e + i]
                        OR stored.payload <> e_payload[e + i] THEN
                        RAISE EXCEPTION 'event % of a retried batch does not match what was recorded', e_id[e + i]
                            USING ERRCODE = 'AS002';
                    END IF;
                END LOOP;
                r_code := 'ok'; r_first_sequence := existing.sequence; r_first_version := existing.stream_version;
                r_recorded_at := existing.recorded_at; r_already := true;
                SELECT array_agg(hash ORDER BY sequence) INTO r_hashes FROM events
                WHERE sequence BETWEEN existing.sequence AND existing.sequence + n - 1;
            ELSE
                SELECT coalesce(max(stream_version), 0) INTO current_version FROM events WHERE stream_id = b_stream[b];
                IF (b_kind[b] = 1 AND current_version <> 0) OR (b_kind[b] = 2 AND current_version = 0)
                    OR (b_kind[b] = 3 AND current_version <> b_version[b])
                    OR (b_kind[b] = 4 AND current_version < b_version[b]) THEN
                    RAISE EXCEPTION 'version' USING ERRCODE = 'AS001', DETAIL = current_version::text;
                END IF;
                IF b_kind[b] = 4 AND current_version > b_version[b] AND b_types[b] <> '' THEN
                    SELECT type INTO found_type FROM events
                    WHERE stream_id = b_stream[b] AND stream_version > b_version[b]
                        AND type IN (SELECT jsonb_array_elements_text(b_types[b]::jsonb))
                    ORDER BY stream_version LIMIT 1;
                    IF FOUND THEN
                        RAISE EXCEPTION 'since' USING ERRCODE = 'AS003', DETAIL = found_type;
                    END IF;
                END IF;
                IF b_breakers[b] <> '' THEN
                    FOREACH line IN ARRAY string_to_array(b_breakers[b], E'\n') LOOP
                        SELECT sequence INTO found_seq FROM events
                        WHERE sequence > split_part(line, E'\t', 2)::bigint AND type = 'provider.health_changed'
                            AND (payload::jsonb)->>'provider' = split_part(line, E'\t', 1)
                        ORDER BY sequence LIMIT 1;
                        IF FOUND THEN
                            RAISE EXCEPTION '%', line USING ERRCODE = 'AS004', DETAIL = found_seq::text;
                        END IF;
                    END LOOP;
                END IF;
                IF b_approvals[b] <> '' THEN
                    FOREACH line IN ARRAY string_to_array(b_approvals[b], E'\n') LOOP
                        SELECT status, resolved_by INTO approval_status, approval_by FROM approvals
                        WHERE approval_id = line;
                        IF FOUND AND approval_status <> 'pending' THEN
                            RAISE EXCEPTION '%', line USING ERRCODE = 'AS005',
                                DETAIL = approval_status || coalesce(E'\t' || approval_by, '');
                        END IF;
                    END LOOP;
                END IF;
                at := greatest(p_now, head.recorded_at);
                seq := head.sequence;
                ver := current_version;
                prev := head.hash;
                hashes := ARRAY[]::bytea[];
                FOR i IN 1 .. n LOOP
                    seq := seq + 1;
                    ver := ver + 1;
                    run := nullif(e_run[e + i], '')::uuid;
                    type_bytes := convert_to(e_type[e + i], 'UTF8');
                    body := convert_to(e_payload[e + i], 'UTF8');
                    prev := sha256(
                        prev || int8send(seq) || uuid_send(e_id[e + i]) || uuid_send(b_stream[b]) || int8send(ver)
                        || CASE WHEN run IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || uuid_send(run) END
                        || int4send(octet_length(type_bytes)) || type_bytes || int4send(e_schema[e + i])
                        || int8send(at)
                        || CASE WHEN head.version2_from IS NOT NULL AND seq >= head.version2_from THEN sha256(body)
                                ELSE int4send(octet_length(body)) || body END
                    );
                    hashes := hashes || prev;
                    INSERT INTO events (sequence, event_id, stream_id, stream_version, run_id, type, schema_version,
                                        payload, recorded_at, hash)
                    VALUES (seq, e_id[e + i], b_stream[b], ver, run, e_type[e + i], e_schema[e + i],
                            e_payload[e + i], at, prev);
                    WHILE w <= coalesce(array_length(w_event, 1), 0) AND w_event[w] = e + i - 1 LOOP
                        PERFORM asm_project(w_op[w], w_args[w]::jsonb, seq, b_stream[b], run, at);
                        w := w + 1;
                    END LOOP;
                    IF run IS NOT NULL AND o_host IS NOT NULL THEN
                        IF e_type[e + i] IN ('run.requested', 'run.started') THEN
                            INSERT INTO run_leases (run_id, session_id, host, boot_id, pid, started)
                            VALUES (run, b_stream[b], o_host, o_boot, o_pid, o_started)
                            ON CONFLICT (run_id) DO UPDATE SET host = excluded.host, boot_id = excluded.boot_id,
                                pid = excluded.pid, started = excluded.started;
                        ELSIF e_type[e + i] IN ('run.completed', 'run.failed', 'run.cancelled') THEN
                            DELETE FROM run_leases WHERE run_id = run;
                        END IF;
                    END IF;
                END LOOP;
                r_code := 'ok'; r_first_sequence := head.sequence + 1; r_first_version := current_version + 1;
                r_recorded_at := at; r_hashes := hashes;
                head.sequence := seq; head.hash := prev; head.recorded_at := at;
                notify_head := seq;
            END IF;
        EXCEPTION
            WHEN unique_violation THEN
                r_code := 'idempotency';
                GET STACKED DIAGNOSTICS r_message = PG_EXCEPTION_DETAIL;
            WHEN SQLSTATE 'AS001' OR SQLSTATE 'AS002' OR SQLSTATE 'AS003' OR SQLSTATE 'AS004' OR SQLSTATE 'AS005' THEN
                GET STACKED DIAGNOSTICS r_message = PG_EXCEPTION_DETAIL;
                r_code := CASE SQLSTATE WHEN 'AS001' THEN 'version' WHEN 'AS002' THEN 'retry'
                    WHEN 'AS003' THEN 'since' WHEN 'AS004' THEN 'breaker' ELSE 'resolved' END;
                IF SQLSTATE IN ('AS004', 'AS005') THEN r_message := SQLERRM || E'\n' || r_message; END IF;
        END;
        -- Projection writes of a refused batch are skipped with it.
        WHILE w <= coalesce(array_length(w_event, 1), 0) AND w_event[w] < e + n LOOP
            w := w + 1;
        END LOOP;
        e := e + n;
        RETURN NEXT;
    END LOOP;
    IF notify_head IS NOT NULL THEN
        UPDATE log_head SET sequence = head.sequence, hash = head.hash, recorded_at = head.recorded_at WHERE id = 1;
        UPDATE projection_checkpoints SET sequence = head.sequence;
        PERFORM pg_notify('asm_events_' || current_schema(), head.sequence::text);
    END IF;
END $$;

INSERT INTO projection_checkpoints (name, version, sequence)
VALUES ('approvals', 1, 0), ('runs', 2, 0), ('sessions', 1, 0), ('transcript', 1, 0), ('usage', 1, 0);
