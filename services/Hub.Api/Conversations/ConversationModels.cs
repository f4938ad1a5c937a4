using System.Text.Json;
using Hub.Core.Conversations;

namespace Hub.Api.Conversations;

/// <param name="BotId">Only for the admin key; a bot key always creates in its own bot.</param>
public sealed record CreateConversation(string? UserId, JsonElement? Metadata, string? BotId);
public sealed record HandoffInput(string? Reason);

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
    public static ConversationView Of(ConversationRecord c) => new(
        c.Id, c.BotId, c.UserId, c.Status,
        c.Metadata is null ? null : JsonDocument.Parse(c.Metadata).RootElement.Clone(),
        c.LastSequence, c.AssignedAgentId,
        DateTimeOffset.FromUnixTimeMilliseconds(c.CreatedAt),
        DateTimeOffset.FromUnixTimeMilliseconds(c.UpdatedAt));
}
