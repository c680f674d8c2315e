-- Projections: derived from the events alone, updated in the append transaction, and
-- rebuilt from scratch by `asm rebuild`. Never a source of truth.

-- Where each projection stands: its code version and the last sequence it has applied.
CREATE TABLE projection_checkpoints (
    name      TEXT    PRIMARY KEY,
    version   INTEGER NOT NULL,
    sequence  INTEGER NOT NULL
) WITHOUT ROWID;

-- A session's lifecycle. Its event count, last sequence and last activity are not stored:
-- they are one probe of the events' (stream_id, stream_version) index away, so an append
-- touches this table only when the session's state changes (see the view below).
CREATE TABLE sessions (
    session_id      BLOB    PRIMARY KEY,
    agent_id        TEXT    NOT NULL,
    status          TEXT    NOT NULL,   -- created | active | completed | failed | archived
    metadata        TEXT    NOT NULL,   -- JSON object
    tags            TEXT    NOT NULL,   -- JSON array
    created_at      INTEGER NOT NULL,   -- microseconds since the epoch
    first_sequence  INTEGER NOT NULL,
    run_count       INTEGER NOT NULL,
    failure_reason  TEXT
) WITHOUT ROWID;

CREATE VIEW sessions_overview AS
SELECT s.*, last.stream_version AS version, last.sequence AS last_sequence, last.recorded_at AS updated_at
FROM sessions AS s
JOIN events AS last ON last.sequence = (
    SELECT sequence FROM events WHERE stream_id = s.session_id ORDER BY stream_version DESC LIMIT 1);

-- A run's lifecycle: written by run.requested, run.started and the terminal event only.
CREATE TABLE runs (
    run_id               BLOB    PRIMARY KEY,
    session_id           BLOB    NOT NULL,
    status               TEXT    NOT NULL,   -- requested | running | completed | failed | cancelled
    provider             TEXT,
    model                TEXT,
    provider_session_id  TEXT,
    requested_at         INTEGER NOT NULL,
    started_at           INTEGER,
    ended_at             INTEGER,
    first_sequence       INTEGER NOT NULL,
    end_sequence         INTEGER,
    failure_kind         TEXT,
    failure_message      TEXT,
    cancel_reason        TEXT
) WITHOUT ROWID;

CREATE INDEX runs_by_session ON runs (session_id, first_sequence);

-- Whole messages in log order. The text stays in the event's payload; the view below joins it.
CREATE TABLE transcript (
    session_id  BLOB    NOT NULL,
    sequence    INTEGER NOT NULL,
    run_id      BLOB,
    role        TEXT    NOT NULL,
    provider    TEXT,
    PRIMARY KEY (session_id, sequence)
) WITHOUT ROWID;

CREATE VIEW transcript_messages AS
SELECT t.session_id, t.sequence, t.run_id, t.role, t.provider,
       json_extract(e.payload, '$.content') AS content
FROM transcript AS t JOIN events AS e ON e.sequence = t.sequence;

-- Token usage and cost per run, provider and model; cost in billionths of a US dollar so
-- sums are exact and rebuilding gives the same numbers.
CREATE TABLE usage (
    run_id                   BLOB    NOT NULL,
    provider                 TEXT    NOT NULL,
    model                    TEXT    NOT NULL,
    session_id               BLOB    NOT NULL,
    input_tokens             INTEGER NOT NULL,
    output_tokens            INTEGER NOT NULL,
    cache_read_tokens        INTEGER NOT NULL,
    cache_write_tokens       INTEGER NOT NULL,
    reasoning_tokens         INTEGER NOT NULL,
    cost_nano_usd            INTEGER NOT NULL,
    reported_cost_nano_usd   INTEGER,
    price_table              TEXT,
    updates                  INTEGER NOT NULL,
    last_sequence            INTEGER NOT NULL,
    PRIMARY KEY (run_id, provider, model)
) WITHOUT ROWID;

CREATE INDEX usage_session_index ON usage (session_id);

CREATE VIEW usage_by_session AS
SELECT session_id,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
       sum(reasoning_tokens) AS reasoning_tokens, sum(cost_nano_usd) AS cost_nano_usd,
       sum(reported_cost_nano_usd) AS reported_cost_nano_usd, count(DISTINCT run_id) AS runs
FROM usage GROUP BY session_id;

CREATE VIEW usage_by_provider AS
SELECT provider,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
       sum(reasoning_tokens) AS reasoning_tokens, sum(cost_nano_usd) AS cost_nano_usd,
       sum(reported_cost_nano_usd) AS reported_cost_nano_usd, count(DISTINCT run_id) AS runs
FROM usage GROUP BY provider;

CREATE VIEW usage_by_model AS
SELECT provider, model,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
       sum(reasoning_tokens) AS reasoning_tokens, sum(cost_nano_usd) AS cost_nano_usd,
       sum(reported_cost_nano_usd) AS reported_cost_nano_usd, count(DISTINCT run_id) AS runs
FROM usage GROUP BY provider, model;
