namespace Hub.Contracts;

/// <summary>
/// No reply could be produced for <paramref name="ReplyToMessageId"/> (the LLM failed after retries).
/// The user message stays stored with its failure recorded.
/// </summary>
public sealed record ReplyFailed(string ReplyToMessageId, string ConversationId, string Code, string Detail);
