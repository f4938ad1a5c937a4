namespace Hub.Contracts;

/// <summary>
/// The AI did not answer <paramref name="ReplyToMessageId"/> because the conversation is no longer
/// with the bot (<paramref name="Status"/> is its current status): handed off, or closed.
/// </summary>
public sealed record ReplySkipped(string ReplyToMessageId, string ConversationId, string Status);
