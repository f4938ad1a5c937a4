namespace Hub.Contracts;

/// <summary>
/// The stored AI reply as <see cref="ReplyProduced"/> carries it, so that the API process waiting on it
/// answers the caller without reading the row back. <paramref name="CreatedAt"/> is Unix milliseconds.
/// </summary>
public sealed record StoredReply(
    long Sequence, string Content, int PromptTokens, int CompletionTokens, double InputCredits, double OutputCredits, long CreatedAt);
