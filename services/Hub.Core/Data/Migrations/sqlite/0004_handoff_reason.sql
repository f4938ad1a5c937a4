-- The reason of the conversation's last handoff (API reason, the model's handoff_to_human argument, "keyword: …",
-- "no answer"). Kept after the conversation is handed back, so it always names the last handoff.
ALTER TABLE conversations ADD COLUMN handoff_reason TEXT NULL;
