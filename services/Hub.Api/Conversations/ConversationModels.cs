using System.Text.Json;
using Hub.Core.Conversations;

namespace Hub.Api.Conversations;

/// <param name="BotId">Only for the admin key; a bot key always creates in its own bot.</param>
public sealed record CreateConversation(string? UserId = null, JsonElement? Metadata = null, string? BotId = null);
public sealed record HandoffInput(string? Reason = null);
