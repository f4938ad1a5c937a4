-- One row per event per bot endpoint; payload is the exact body that is signed and sent.
CREATE TABLE deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    bot_id           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    conversation_id  TEXT NULL,
    message_id       TEXT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NULL,
    locked_until     INTEGER NULL,
    last_status_code INTEGER NULL,
    last_error       TEXT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX ix_deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ix_deliveries_bot ON deliveries (bot_id, seq);

CREATE TABLE delivery_attempts (
    id                TEXT PRIMARY KEY,
    delivery_id       TEXT NOT NULL,
    attempt           INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    status_code       INTEGER NULL,
    latency_ms        INTEGER NOT NULL,
    error             TEXT NULL,
    response_excerpt  TEXT NULL,
    outcome           TEXT NOT NULL
);
CREATE INDEX ix_delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);

ALTER TABLE bots ADD COLUMN webhook_failing_since INTEGER NULL;
