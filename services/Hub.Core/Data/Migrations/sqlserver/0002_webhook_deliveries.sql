-- created_rv: the list cursor's order, as on conversations (0001).
CREATE TABLE deliveries (
    seq              BIGINT IDENTITY(1,1) NOT NULL PRIMARY KEY,
    id               NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL UNIQUE,
    bot_id           NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    event_type       NVARCHAR(64) NOT NULL,
    conversation_id  NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NULL,
    message_id       NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NULL,
    payload          NVARCHAR(MAX) NOT NULL,
    status           NVARCHAR(20) NOT NULL,
    attempt_count    INT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NULL,
    locked_until     BIGINT NULL,
    last_status_code INT NULL,
    last_error       NVARCHAR(1000) NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    rv               ROWVERSION NOT NULL,
    created_rv       BINARY(8) NULL
);
CREATE INDEX ix_deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ix_deliveries_bot ON deliveries (bot_id, seq);
CREATE INDEX ix_deliveries_created ON deliveries (created_rv);
CREATE INDEX ix_deliveries_bot_created ON deliveries (bot_id, created_rv);

CREATE TABLE delivery_attempts (
    id                NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    delivery_id       NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    attempt           INT NOT NULL,
    started_at        BIGINT NOT NULL,
    status_code       INT NULL,
    latency_ms        BIGINT NOT NULL,
    error             NVARCHAR(1000) NULL,
    response_excerpt  NVARCHAR(MAX) NULL,
    outcome           NVARCHAR(20) NOT NULL
);
CREATE INDEX ix_delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);

ALTER TABLE bots ADD webhook_failing_since BIGINT NULL;
