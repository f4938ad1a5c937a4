namespace Hub.Contracts;

/// <summary>
/// An AI reply to <paramref name="ReplyToMessageId"/> has been stored as <paramref name="ReplyMessageId"/>.
/// <paramref name="DeltaCount"/> is how many <see cref="ReplyDeltaProduced"/> were published before it
/// (0 when nobody streamed), so a streaming receiver knows when it has them all.
/// </summary>
/// <param name="Reply">The reply as stored, when the worker has just stored it; null when it only found an
/// earlier one (a redelivery), and from older workers: the receiver then reads it from the store.
/// Added after v1.</param>
public sealed record ReplyProduced(
    string ReplyToMessageId, string ConversationId, string ReplyMessageId, int DeltaCount, StoredReply? Reply = null);
