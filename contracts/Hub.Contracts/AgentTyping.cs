namespace Hub.Contracts;

/// <summary>An agent is (or stopped) typing in a conversation; fanned out to every API process's inboxes.</summary>
public sealed record AgentTyping(string ConversationId, string BotId, string AgentId, string AgentName, bool Active);
