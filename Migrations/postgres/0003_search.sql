-- Full-text search over what was said and done in sessions (the SQLite file's is
-- Migrations/0007_search.sql): an event's searchable text, as SearchQuery.text(of:) gives it,
-- and a GIN index over its words that every insert keeps, inside the append's transaction —
-- never behind the log, rebuilt by REINDEX. Only the searchable types are indexed.
CREATE FUNCTION asm_search_text(kind text, payload text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE kind
        WHEN 'message.received' THEN payload::jsonb ->> 'content'
        WHEN 'tool_call.requested' THEN (payload::jsonb ->> 'name') || E'\n' || (payload::jsonb -> 'input')::text
        WHEN 'tool_call.started' THEN (payload::jsonb ->> 'name') || E'\n' || (payload::jsonb -> 'input')::text
        WHEN 'tool_call.completed' THEN
            coalesce((payload::jsonb ->> 'name') || E'\n', '') || (payload::jsonb ->> 'output')
        WHEN 'tool_call.refused' THEN
            (payload::jsonb ->> 'name') || E'\n' || (payload::jsonb -> 'input')::text || E'\n'
                || (payload::jsonb ->> 'reason')
        WHEN 'run.failed' THEN
            (payload::jsonb -> 'failure' ->> 'kind') || E'\n' || (payload::jsonb -> 'failure' ->> 'message')
    END
$$;

-- The words of that text: ASCII punctuation becomes space first, so that, as in the SQLite
-- file's index, only letters and digits make words (PostgreSQL's parser would keep
-- `deployment.apps/billing` or `a-b` whole).
CREATE FUNCTION asm_search_words(kind text, payload text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple', translate(asm_search_text(kind, payload),
        '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', '                                '))
$$;

CREATE INDEX events_search ON events USING gin (asm_search_words(type, payload))
    WHERE type IN ('message.received', 'tool_call.requested', 'tool_call.started',
                   'tool_call.completed', 'tool_call.refused', 'run.failed');
