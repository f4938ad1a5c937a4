namespace Hub.Contracts;

/// <summary>
/// Command to the AI worker: answer the stored user message <paramref name="MessageId"/>.
/// Carries only IDs; the worker reads the conversation from the store. Sent once when the
/// message is accepted and again by the re-driver if no reply exists after a while, so the
/// consumer must be idempotent (a reply is stored at most once per user message).
/// </summary>
/// <param name="StreamDeltas">True when a caller is streaming: the worker then publishes
/// <see cref="ReplyDeltaProduced"/> for every chunk. Blocking and webhook callers only need the end.</param>
/// <param name="ReplyAddress">The API process waiting for the reply (its Redis channel), when one is; null
/// from the re-driver. Added after v1: older senders leave it out.</param>
public sealed record ProduceReply(string MessageId, string ConversationId, string BotId, bool StreamDeltas, string? ReplyAddress = null);
