namespace Hub.Contracts;

/// <summary>
/// One chunk of an AI reply as the LLM produced it. <paramref name="Index"/> counts from 0 so a
/// receiver can restore order when a transport delivers chunks concurrently.
/// </summary>
public sealed record ReplyDeltaProduced(
    string ReplyToMessageId, string ConversationId, string ReplyMessageId, int Index, string Delta);
