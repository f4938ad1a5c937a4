CREATE TABLE agents (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    bot_ids        TEXT NOT NULL DEFAULT '[]',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Opaque session tokens (stored hashed): the inbox cookie and the SignalR access_token are the same token.
CREATE TABLE agent_sessions (
    token_hash  TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX ix_agent_sessions_agent ON agent_sessions (agent_id);

ALTER TABLE bots ADD COLUMN handoff_on_no_answer INTEGER NOT NULL DEFAULT 0;
