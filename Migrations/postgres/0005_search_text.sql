-- What an event is found by when the log's search index is on (`asm search --index on`; the
-- SQLite file's is the view in Migrations/0008_asm_search_source.sql): a whole message, a tool's
-- name with its input (JSON) or output, a refusal with its reason, a run's failure. The index
-- itself — a GIN index `events_search` over asm_search_words(type, payload) of the searchable
-- types, kept by every insert in its transaction — exists only while the index is on.
--
-- Both bodies are SQL-standard (PostgreSQL 14+): what they call is bound when they are created,
-- so they work whatever the caller's search_path (autovacuum's ANALYZE, a restore, PostgreSQL
-- 17's maintenance commands run with only pg_catalog on it).
CREATE FUNCTION asm_search_text(kind text, payload text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN payload::jsonb ? 'expunged' THEN NULL ELSE CASE kind
        WHEN 'message.received' THEN payload::jsonb ->> 'content'
        WHEN 'tool_call.requested' THEN
            coalesce(payload::jsonb ->> 'name', '') || E'\n' || coalesce((payload::jsonb -> 'input')::text, '')
        WHEN 'tool_call.started' THEN
            coalesce(payload::jsonb ->> 'name', '') || E'\n' || coalesce((payload::jsonb -> 'input')::text, '')
        WHEN 'tool_call.completed' THEN
            coalesce((payload::jsonb ->> 'name') || E'\n', '') || coalesce(payload::jsonb ->> 'output', '')
        WHEN 'tool_call.refused' THEN
            coalesce(payload::jsonb ->> 'name', '') || E'\n' || coalesce((payload::jsonb -> 'input')::text, '')
                || E'\n' || coalesce(payload::jsonb ->> 'reason', '')
        WHEN 'run.failed' THEN
            coalesce(payload::jsonb -> 'failure' ->> 'kind', '') || E'\n'
                || coalesce(payload::jsonb -> 'failure' ->> 'message', '')
    END END;

-- The words of that text: ASCII punctuation becomes space first, so that, as in the SQLite
-- file's index, only letters and digits make words (PostgreSQL's parser would keep
-- `deployment.apps/billing` or `a-b` whole).
CREATE FUNCTION asm_search_words(kind text, payload text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_tsvector('simple'::regconfig, translate(coalesce(asm_search_text(kind, payload), ''),
    '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', '                                '));
