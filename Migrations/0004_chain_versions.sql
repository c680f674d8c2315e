-- Hash chain versions: from `first_sequence` on, events are linked under `version`. Version 1
-- (no row) links each event to its payload's bytes; version 2 to the payload's SHA-256, so a
-- payload can be expunged and the chain still verifies. A new log is at version 2 from its
-- first event; an older log moves to it with a `log.chain_upgraded` event on its next append.
CREATE TABLE chain_versions (
    version         INTEGER PRIMARY KEY,
    first_sequence  INTEGER NOT NULL
);

-- Payloads replaced by tombstones, one row per event, written in the transaction that
-- records the `event.expunged` event saying who and why.
CREATE TABLE expunged (
    sequence    INTEGER PRIMARY KEY,
    digest      TEXT    NOT NULL,
    tombstone   TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
);

CREATE TRIGGER chain_versions_are_append_only_update BEFORE UPDATE ON chain_versions
BEGIN
    SELECT RAISE(ABORT, 'chain versions are append-only');
END;

CREATE TRIGGER chain_versions_are_append_only_delete BEFORE DELETE ON chain_versions
BEGIN
    SELECT RAISE(ABORT, 'chain versions are append-only');
END;

CREATE TRIGGER expunged_is_append_only_update BEFORE UPDATE ON expunged
BEGIN
    SELECT RAISE(ABORT, 'expunge records are append-only');
END;

CREATE TRIGGER expunged_is_append_only_delete BEFORE DELETE ON expunged
BEGIN
    SELECT RAISE(ABORT, 'expunge records are append-only');
END;

-- History is still never rewritten, with one audited exception: an event's payload may be
-- replaced by the tombstone its expunge record names, every other column unchanged.
DROP TRIGGER events_are_append_only_update;

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
WHEN NOT (
    NEW.sequence = OLD.sequence
    AND NEW.event_id = OLD.event_id
    AND NEW.stream_id = OLD.stream_id
    AND NEW.stream_version = OLD.stream_version
    AND NEW.run_id IS OLD.run_id
    AND NEW.type = OLD.type
    AND NEW.schema_version = OLD.schema_version
    AND NEW.recorded_at = OLD.recorded_at
    AND NEW.hash = OLD.hash
    AND NEW.payload <> OLD.payload
    AND EXISTS (SELECT 1 FROM expunged WHERE sequence = OLD.sequence AND tombstone = NEW.payload)
)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
