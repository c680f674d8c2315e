-- What an event is found by when the log's search index is on (`asm search --index on`): a
-- whole message, a tool's name with its input (JSON) or output, a refusal with its reason, a
-- run's failure; NULL for an expunged event. The index itself — an FTS5 table `asm_search` whose
-- rowid is the event's sequence, filled from this view by every append in its transaction,
-- one statement per batch — exists only while the index is on (ASMStore's SearchIndex).
CREATE VIEW asm_search_source AS
SELECT sequence, stream_id, run_id, type, nullif(trim(CASE type
    WHEN 'message.received' THEN json_extract(payload, '$.content')
    WHEN 'tool_call.requested' THEN
        coalesce(json_extract(payload, '$.name'), '') || char(10) || coalesce(json_extract(payload, '$.input'), '')
    WHEN 'tool_call.started' THEN
        coalesce(json_extract(payload, '$.name'), '') || char(10) || coalesce(json_extract(payload, '$.input'), '')
    WHEN 'tool_call.completed' THEN
        coalesce(json_extract(payload, '$.name') || char(10), '') || coalesce(json_extract(payload, '$.output'), '')
    WHEN 'tool_call.refused' THEN
        coalesce(json_extract(payload, '$.name'), '') || char(10) || coalesce(json_extract(payload, '$.input'), '')
            || char(10) || coalesce(json_extract(payload, '$.reason'), '')
    WHEN 'run.failed' THEN
        coalesce(json_extract(payload, '$.failure.kind'), '') || char(10)
            || coalesce(json_extract(payload, '$.failure.message'), '')
    END, char(10) || ' '), '') AS text
FROM events
WHERE type IN ('message.received', 'tool_call.requested', 'tool_call.started', 'tool_call.completed',
               'tool_call.refused', 'run.failed')
  AND json_extract(payload, '$.expunged') IS NULL;
