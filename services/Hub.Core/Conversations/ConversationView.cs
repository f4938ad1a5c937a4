using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hub.Core.Conversations;

/// <summary>A conversation as the API shows it and as <c>conversation.*</c> events carry it.</summary>
public sealed record ConversationView(
    string ConversationId,
    string BotId,
    string? UserId,
    string Status,
    JsonElement? Metadata,
    long MessageCount,
    string? AssignedAgentId,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>On <c>conversation.*</c> events: the status the conversation left.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PreviousStatus { get; init; }

    /// <summary>
    /// Why the conversation was last handed to people (the API's or the model's reason, <c>keyword: …</c>,
    /// <c>no answer</c>); null until the first handoff. Kept after a hand-back: it names the last handoff.
    /// </summary>
    public string? HandoffReason { get; init; }

    public static ConversationView Of(ConversationRecord c) => new(
        c.Id, c.BotId, c.UserId, c.Status,
        c.Metadata is null ? null : JsonDocument.Parse(c.Metadata).RootElement.Clone(),
        c.LastSequence, c.AssignedAgentId,
        DateTimeOffset.FromUnixTimeMilliseconds(c.CreatedAt),
        DateTimeOffset.FromUnixTimeMilliseconds(c.UpdatedAt))
    {
        HandoffReason = c.HandoffReason,
    };
}
