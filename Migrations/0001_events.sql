-- The append-only event log. One row per event; `sequence` is the rowid and the
-- gap-free global order. Identifiers are 16-byte big-endian UUID blobs.
CREATE TABLE events (
    sequence        INTEGER PRIMARY KEY,
    event_id        BLOB    NOT NULL UNIQUE,
    stream_id       BLOB    NOT NULL,
    stream_version  INTEGER NOT NULL,
    run_id          BLOB,
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    recorded_at     INTEGER NOT NULL,
    hash            BLOB    NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- History is never rewritten: updates and deletes of events are refused.
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- A readable view for people and tools that do not want to format blobs.
CREATE VIEW events_readable AS
SELECT
    sequence,
    lower(substr(hex(event_id), 1, 8) || '-' || substr(hex(event_id), 9, 4) || '-' || substr(hex(event_id), 13, 4)
        || '-' || substr(hex(event_id), 17, 4) || '-' || substr(hex(event_id), 21, 12)) AS event_id,
    lower(substr(hex(stream_id), 1, 8) || '-' || substr(hex(stream_id), 9, 4) || '-' || substr(hex(stream_id), 13, 4)
        || '-' || substr(hex(stream_id), 17, 4) || '-' || substr(hex(stream_id), 21, 12)) AS stream_id,
    stream_version,
    CASE WHEN run_id IS NULL THEN NULL ELSE
        lower(substr(hex(run_id), 1, 8) || '-' || substr(hex(run_id), 9, 4) || '-' || substr(hex(run_id), 13, 4)
        || '-' || substr(hex(run_id), 17, 4) || '-' || substr(hex(run_id), 21, 12)) END AS run_id,
    type,
    schema_version,
    payload,
    recorded_at,
    lower(hex(hash)) AS hash
FROM events;
