using System.Text.Json.Serialization;

namespace Hub.Core.Messages;

/// <summary>A message as listed (<c>GET …/messages</c>) and as the <c>message.received</c> event data.</summary>
public sealed record MessageView(
    string MessageId,
    string ConversationId,
    long Sequence,
    string From,
    string Content,
    string? ReplyTo,
    long CreateTime,
    DateTimeOffset CreatedAt)
{
    /// <summary>For user messages: pending | working | answered | failed | skipped.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ReplyStatus { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Usage? Usage { get; init; }

    public static MessageView Of(MessageRecord m) => new(
        m.Id, m.ConversationId, m.Sequence, m.Sender, m.Content, m.ReplyTo,
        m.CreatedAt / 1000, DateTimeOffset.FromUnixTimeMilliseconds(m.CreatedAt))
    {
        ReplyStatus = m.Sender == "user" ? m.ReplyState : null,
        Usage = m.Sender == "user" ? null : Messages.Usage.From(m),
    };
}
