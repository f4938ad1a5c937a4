-- Times are Unix milliseconds; JSON lists are TEXT. Keep in step with sqlserver/0001_initial.sql.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE bots (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    instructions              TEXT NULL,
    model                     TEXT NULL,
    temperature               REAL NULL,
    knowledge                 TEXT NOT NULL DEFAULT '[]',
    fallback_text             TEXT NULL,
    handoff_keywords          TEXT NOT NULL DEFAULT '[]',
    input_credits_per_1k      REAL NOT NULL DEFAULT 0,
    output_credits_per_1k     REAL NOT NULL DEFAULT 0,
    blocking_timeout_seconds  INTEGER NOT NULL DEFAULT 60,
    webhook_url               TEXT NULL,
    webhook_events            TEXT NOT NULL DEFAULT '["message.reply"]',
    webhook_secret            TEXT NOT NULL,
    webhook_previous_secret   TEXT NULL,
    webhook_previous_secret_expires_at INTEGER NULL,
    webhook_status            TEXT NOT NULL DEFAULT 'enabled',
    webhook_disabled_reason   TEXT NULL,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
);

CREATE TABLE bot_keys (
    id          TEXT PRIMARY KEY,
    bot_id      TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    key_hash    TEXT NOT NULL UNIQUE,
    key_prefix  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- seq is the stable cursor order for CRM sync: assigned once, never changes.
CREATE TABLE conversations (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    bot_id            TEXT NOT NULL,
    user_id           TEXT NULL,
    status            TEXT NOT NULL,
    metadata          TEXT NULL,
    last_sequence     INTEGER NOT NULL DEFAULT 0,
    assigned_agent_id TEXT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX ix_conversations_bot_seq ON conversations (bot_id, seq);
CREATE INDEX ix_conversations_updated ON conversations (updated_at);

-- sender: user | ai | human. reply_state (user messages only): pending | working | answered | failed | skipped.
CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    conversation_id   TEXT NOT NULL,
    bot_id            TEXT NOT NULL,
    sequence          INTEGER NOT NULL,
    sender            TEXT NOT NULL,
    content           TEXT NOT NULL,
    reply_to          TEXT NULL,
    response_mode     TEXT NULL,
    reply_state       TEXT NULL,
    redrive_at        INTEGER NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    error_code        TEXT NULL,
    agent_id          TEXT NULL,
    model             TEXT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    input_credits     REAL NOT NULL DEFAULT 0,
    output_credits    REAL NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    UNIQUE (conversation_id, sequence)
);
-- Exactly one AI reply per user message, whatever redeliveries happen.
CREATE UNIQUE INDEX ux_messages_ai_reply ON messages (reply_to) WHERE sender = 'ai';
CREATE INDEX ix_messages_redrive ON messages (redrive_at) WHERE reply_state IN ('pending', 'working');
CREATE INDEX ix_messages_usage ON messages (bot_id, created_at);

CREATE TABLE idempotency_keys (
    bot_id        TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (bot_id, idem_key)
);
