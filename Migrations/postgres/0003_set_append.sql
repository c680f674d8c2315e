-- asm_append() with set-based writes: the same call, checks, chain and answers as in
-- 0001_log.sql, with less work per event on the server.
--
-- Per batch, after its checks: everything the chain hashes except the previous hash is known
-- (sequences, stream versions and the time follow from the head and the stream's version), so
-- each event's chain input after the previous hash is built in one statement; the loop left is
-- one sha256 per event; the events go in with one INSERT; message and usage projection writes
-- (the common ones) go in with one INSERT each, usage summed per row first; the others, and
-- lease rows, as before, in order.
--
-- Usage and transcript writes only read `runs` (provider, model), which only the run requested
-- and run started writes change, so a stretch of them between two other writes gives the same
-- rows applied together as one by one: transcript rows are independent, and usage deltas add
-- up (tokens and costs summed, the last reported cost and price table that is not null kept,
-- `updates` counted, `last_sequence` the last).
CREATE OR REPLACE FUNCTION asm_append(
    b_stream uuid[], b_kind integer[], b_version bigint[], b_types text[], b_count integer[],
    b_breakers text[], b_approvals text[],
    e_id uuid[], e_run text[], e_type text[], e_schema integer[], e_payload text[],
    w_event integer[], w_op integer[], w_args text[],
    p_now bigint, o_host text, o_boot text, o_pid integer, o_started bigint,
    OUT r_code text, OUT r_message text, OUT r_first_sequence bigint, OUT r_first_version bigint,
    OUT r_recorded_at bigint, OUT r_already boolean, OUT r_hashes bytea[]
) RETURNS SETOF record LANGUAGE plpgsql
-- The statements below are planned once per connection: their plans do not depend on the
-- arguments (row counts aside), and planning them anew on every call costs more than running them.
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    head log_head%ROWTYPE;
    b integer;
    e integer := 0;           -- index of the batch's first event in the e_ arrays (0-based)
    w integer := 1;           -- next projection write (1-based)
    w_total integer := coalesce(array_length(w_event, 1), 0);
    w_end integer;            -- one past the batch's last projection write
    k integer;
    segment integer;          -- first write of the stretch not applied yet
    has_message boolean;      -- the stretch holds a message write
    has_usage boolean;        -- the stretch holds a usage write
    lease_events integer[];   -- the batch's events (1-based) that take or drop a run's lease
    i integer;
    n integer;
    current_version bigint;
    existing events%ROWTYPE;
    stored events%ROWTYPE;
    at bigint;
    prev bytea;
    inputs bytea[];
    hashes bytea[];
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
        w_end := w;
        WHILE w_end <= w_total AND w_event[w_end] < e + n LOOP
            w_end := w_end + 1;
        END LOOP;
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
                -- Each event's chain input after the previous hash: sequence, id, stream, stream
                -- version, run, type, schema version, time, then the payload's digest (chain
                -- version 2) or its length and bytes (version 1).
                SELECT array_agg(
                        int8send(head.sequence + g) || uuid_send(e_id[e + g]) || uuid_send(b_stream[b])
                        || int8send(current_version + g)
                        || CASE WHEN e_run[e + g] = '' THEN '\x00'::bytea
                                ELSE '\x01'::bytea || uuid_send(e_run[e + g]::uuid) END
                        || int4send(octet_length(convert_to(e_type[e + g], 'UTF8'))) || convert_to(e_type[e + g], 'UTF8')
                        || int4send(e_schema[e + g]) || int8send(at)
                        || CASE WHEN head.version2_from IS NOT NULL AND head.sequence + g >= head.version2_from
                                THEN sha256(convert_to(e_payload[e + g], 'UTF8'))
                                ELSE int4send(octet_length(convert_to(e_payload[e + g], 'UTF8')))
                                     || convert_to(e_payload[e + g], 'UTF8') END
                        ORDER BY g),
                    array_agg(g ORDER BY g) FILTER (WHERE e_run[e + g] <> '' AND e_type[e + g] IN (
                        'run.requested', 'run.started', 'run.completed', 'run.failed', 'run.cancelled'))
                INTO inputs, lease_events FROM generate_series(1, n) g;
                prev := head.hash;
                hashes := inputs;
                FOR i IN 1 .. n LOOP
                    prev := sha256(prev || inputs[i]);
                    hashes[i] := prev;
                END LOOP;
                INSERT INTO events (sequence, event_id, stream_id, stream_version, run_id, type, schema_version,
                                    payload, recorded_at, hash)
                SELECT head.sequence + g, e_id[e + g], b_stream[b], current_version + g, nullif(e_run[e + g], '')::uuid,
                       e_type[e + g], e_schema[e + g], e_payload[e + g], at, hashes[g]
                FROM generate_series(1, n) g;
                -- Projection writes, in order; stretches of message and usage writes together.
                segment := w;
                has_message := false;
                has_usage := false;
                FOR k IN w .. w_end LOOP
                    IF k < w_end AND w_op[k] = 7 THEN
                        has_message := true;
                    ELSIF k < w_end AND w_op[k] = 8 THEN
                        has_usage := true;
                    ELSE
                        IF has_message THEN
                            INSERT INTO transcript (session_id, sequence, run_id, role, provider)
                            SELECT b_stream[b], head.sequence + w_event[j] - e + 1, x.r, w_args[j]::jsonb->>0,
                                   (SELECT provider FROM runs WHERE run_id = x.r)
                            FROM generate_series(segment, k - 1) j,
                                 LATERAL (SELECT nullif(e_run[w_event[j] + 1], '')::uuid AS r) x
                            WHERE w_op[j] = 7;
                        END IF;
                        IF has_usage THEN
                            INSERT INTO usage AS u (run_id, provider, model, session_id, input_tokens, output_tokens,
                                               cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd,
                                               reported_cost_nano_usd, price_table, updates, last_sequence)
                            SELECT run_id, provider, model, b_stream[b],
                                   sum(input)::bigint, sum(output)::bigint, sum(cache_read)::bigint,
                                   sum(cache_write)::bigint, sum(reasoning)::bigint, sum(cost)::bigint,
                                   (array_agg(reported ORDER BY j DESC) FILTER (WHERE reported IS NOT NULL))[1],
                                   (array_agg(price_table ORDER BY j DESC) FILTER (WHERE price_table IS NOT NULL))[1],
                                   count(*), max(sequence)
                            FROM (
                                SELECT j, coalesce(x.r, '00000000-0000-0000-0000-000000000000') AS run_id,
                                       head.sequence + w_event[j] - e + 1 AS sequence,
                                       coalesce(a->>0, (SELECT provider FROM runs WHERE runs.run_id = x.r), '') AS provider,
                                       coalesce(a->>1, (SELECT model FROM runs WHERE runs.run_id = x.r), '') AS model,
                                       (a->>2)::bigint AS input, (a->>3)::bigint AS output,
                                       (a->>4)::bigint AS cache_read, (a->>5)::bigint AS cache_write,
                                       (a->>6)::bigint AS reasoning, (a->>7)::bigint AS cost,
                                       (a->>8)::bigint AS reported, a->>9 AS price_table
                                FROM generate_series(segment, k - 1) j,
                                     LATERAL (SELECT nullif(e_run[w_event[j] + 1], '')::uuid AS r, w_args[j]::jsonb AS a) x
                                WHERE w_op[j] = 8
                            ) d
                            GROUP BY run_id, provider, model
                            ON CONFLICT (run_id, provider, model) DO UPDATE SET
                                input_tokens = u.input_tokens + excluded.input_tokens,
                                output_tokens = u.output_tokens + excluded.output_tokens,
                                cache_read_tokens = u.cache_read_tokens + excluded.cache_read_tokens,
                                cache_write_tokens = u.cache_write_tokens + excluded.cache_write_tokens,
                                reasoning_tokens = u.reasoning_tokens + excluded.reasoning_tokens,
                                cost_nano_usd = u.cost_nano_usd + excluded.cost_nano_usd,
                                reported_cost_nano_usd = coalesce(excluded.reported_cost_nano_usd, u.reported_cost_nano_usd),
                                price_table = coalesce(excluded.price_table, u.price_table),
                                updates = u.updates + excluded.updates,
                                last_sequence = excluded.last_sequence;
                        END IF;
                        IF k < w_end THEN
                            PERFORM asm_project(w_op[k], w_args[k]::jsonb, head.sequence + w_event[k] - e + 1,
                                                b_stream[b], nullif(e_run[w_event[k] + 1], '')::uuid, at);
                        END IF;
                        segment := k + 1;
                        has_message := false;
                        has_usage := false;
                    END IF;
                END LOOP;
                IF o_host IS NOT NULL AND lease_events IS NOT NULL THEN
                    FOREACH i IN ARRAY lease_events LOOP
                        run := e_run[e + i]::uuid;
                        IF e_type[e + i] IN ('run.requested', 'run.started') THEN
                            INSERT INTO run_leases (run_id, session_id, host, boot_id, pid, started)
                            VALUES (run, b_stream[b], o_host, o_boot, o_pid, o_started)
                            ON CONFLICT (run_id) DO UPDATE SET host = excluded.host, boot_id = excluded.boot_id,
                                pid = excluded.pid, started = excluded.started;
                        ELSE
                            DELETE FROM run_leases WHERE run_id = run;
                        END IF;
                    END LOOP;
                END IF;
                r_code := 'ok'; r_first_sequence := head.sequence + 1; r_first_version := current_version + 1;
                r_recorded_at := at; r_hashes := hashes;
                head.sequence := head.sequence + n; head.hash := prev; head.recorded_at := at;
                notify_head := head.sequence;
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
        w := w_end;
        e := e + n;
        RETURN NEXT;
    END LOOP;
    IF notify_head IS NOT NULL THEN
        UPDATE log_head SET sequence = head.sequence, hash = head.hash, recorded_at = head.recorded_at WHERE id = 1;
        UPDATE projection_checkpoints SET sequence = head.sequence;
        PERFORM pg_notify('asm_events_' || current_schema(), head.sequence::text);
    END IF;
END $$;
