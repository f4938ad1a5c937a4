namespace Hub.Contracts;

/// <summary>A conversation's status, assignee or last activity changed; every API process pushes it to the inboxes that may see it.</summary>
public sealed record ConversationChanged(string ConversationId, string BotId);
