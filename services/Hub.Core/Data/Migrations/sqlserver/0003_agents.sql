CREATE TABLE agents (
    id             NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    email          NVARCHAR(320) NOT NULL UNIQUE,
    name           NVARCHAR(200) NOT NULL,
    password_hash  NVARCHAR(500) NOT NULL,
    role           NVARCHAR(20) NOT NULL,
    bot_ids        NVARCHAR(MAX) NOT NULL DEFAULT '[]',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE agent_sessions (
    token_hash  NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    agent_id    NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX ix_agent_sessions_agent ON agent_sessions (agent_id);

ALTER TABLE bots ADD handoff_on_no_answer INT NOT NULL DEFAULT 0;
