-- Durable named consumers: the last sequence each has acknowledged. Checkpoints only move
-- forward, except through a reset, which is recorded as a `consumer.reset` event.
CREATE TABLE consumers (
    name        TEXT    PRIMARY KEY,
    position    INTEGER NOT NULL CHECK (position >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
