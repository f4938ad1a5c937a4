-- Times are Unix milliseconds; JSON lists are NVARCHAR(MAX). Keep in step with sqlite/0001_initial.sql.
-- Edited in place (0001-0003) for issue 10, which is allowed only because the SQL Server path had never run
-- anywhere: no database holds the old version. From here on, changes are new numbered scripts.
-- Ids and keys use Latin1_General_100_BIN2: they compare byte for byte (case included), as in SQLite. Give
-- every new id column the same collation: comparing columns of two different collations is an error.
CREATE TABLE settings (
    name  NVARCHAR(100) NOT NULL PRIMARY KEY,
    value NVARCHAR(MAX) NOT NULL
);

CREATE TABLE bots (
    id                        NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    name                      NVARCHAR(200) NOT NULL,
    instructions              NVARCHAR(MAX) NULL,
    model                     NVARCHAR(200) NULL,
    temperature               FLOAT NULL,
    knowledge                 NVARCHAR(MAX) NOT NULL DEFAULT '[]',
    fallback_text             NVARCHAR(MAX) NULL,
    handoff_keywords          NVARCHAR(MAX) NOT NULL DEFAULT '[]',
    input_credits_per_1k      FLOAT NOT NULL DEFAULT 0,
    output_credits_per_1k     FLOAT NOT NULL DEFAULT 0,
    blocking_timeout_seconds  INT NOT NULL DEFAULT 60,
    webhook_url               NVARCHAR(2048) NULL,
    webhook_events            NVARCHAR(MAX) NOT NULL DEFAULT '["message.reply"]',
    webhook_secret            NVARCHAR(200) NOT NULL,
    webhook_previous_secret   NVARCHAR(200) NULL,
    webhook_previous_secret_expires_at BIGINT NULL,
    webhook_status            NVARCHAR(20) NOT NULL DEFAULT 'enabled',
    webhook_disabled_reason   NVARCHAR(500) NULL,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

CREATE TABLE bot_keys (
    id          NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    bot_id      NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    key_hash    NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL UNIQUE,
    key_prefix  NVARCHAR(32) NOT NULL,
    created_at  BIGINT NOT NULL
);

-- rv changes with every write; created_rv keeps the value of the insert (stamped in the same transaction)
-- and is the list cursor's order, read below MIN_ACTIVE_ROWVERSION() (see SqlServerDialect.Position).
CREATE TABLE conversations (
    seq               BIGINT IDENTITY(1,1) NOT NULL PRIMARY KEY,
    id                NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL UNIQUE,
    bot_id            NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    user_id           NVARCHAR(200) NULL,
    status            NVARCHAR(20) NOT NULL,
    metadata          NVARCHAR(MAX) NULL,
    last_sequence     BIGINT NOT NULL DEFAULT 0,
    assigned_agent_id NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    rv                ROWVERSION NOT NULL,
    created_rv        BINARY(8) NULL
);
CREATE INDEX ix_conversations_bot_seq ON conversations (bot_id, seq);
CREATE INDEX ix_conversations_updated ON conversations (updated_at);
CREATE INDEX ix_conversations_created ON conversations (created_rv);
CREATE INDEX ix_conversations_bot_created ON conversations (bot_id, created_rv);

CREATE TABLE messages (
    id                NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    conversation_id   NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    bot_id            NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    sequence          BIGINT NOT NULL,
    sender            NVARCHAR(10) NOT NULL,
    content           NVARCHAR(MAX) NOT NULL,
    reply_to          NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NULL,
    response_mode     NVARCHAR(20) NULL,
    reply_state       NVARCHAR(20) NULL,
    redrive_at        BIGINT NULL,
    attempts          INT NOT NULL DEFAULT 0,
    error_code        NVARCHAR(100) NULL,
    agent_id          NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NULL,
    model             NVARCHAR(200) NULL,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    input_credits     FLOAT NOT NULL DEFAULT 0,
    output_credits    FLOAT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    CONSTRAINT ux_messages_conversation_sequence UNIQUE (conversation_id, sequence)
);
CREATE UNIQUE INDEX ux_messages_ai_reply ON messages (reply_to) WHERE sender = 'ai';
CREATE INDEX ix_messages_redrive ON messages (redrive_at) WHERE reply_state IN ('pending', 'working');
CREATE INDEX ix_messages_usage ON messages (bot_id, created_at);

-- = ignores trailing spaces even in a binary collation ('abc' = 'abc '), so keys are matched and kept
-- unique on the SHA-256 of their UTF-16 bytes (SqlServerDialect.IdempotencyKeyEquals).
CREATE TABLE idempotency_keys (
    bot_id        NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    idem_key      NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NOT NULL,
    idem_key_hash AS CAST(HASHBYTES('SHA2_256', idem_key) AS BINARY(32)) PERSISTED NOT NULL,
    request_hash  NVARCHAR(64) NOT NULL,
    message_id    NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    created_at    BIGINT NOT NULL,
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (bot_id, idem_key_hash)
);
