namespace Hub.Contracts;

/// <summary>
/// An AI reply to <paramref name="ReplyToMessageId"/> has been stored as <paramref name="ReplyMessageId"/>.
/// <paramref name="DeltaCount"/> is how many <see cref="ReplyDeltaProduced"/> were published before it
/// (0 when nobody streamed), so a streaming receiver knows when it has them all.
/// </summary>
public sealed record ReplyProduced(
    string ReplyToMessageId, string ConversationId, string ReplyMessageId, int DeltaCount);
