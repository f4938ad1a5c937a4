namespace Hub.Contracts;

/// <summary>A message (user, AI or agent) was stored; every API process pushes it to the inboxes that may see it.</summary>
public sealed record MessageStored(string MessageId, string ConversationId, string BotId);
