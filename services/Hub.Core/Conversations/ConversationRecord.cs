namespace Hub.Core.Conversations;

public sealed class ConversationRecord
{
    public long Seq { get; init; }
    public string Id { get; init; } = "";
    public string BotId { get; init; } = "";
    public string? UserId { get; init; }
    public string Status { get; init; } = ConversationStatus.Bot;
    public string? Metadata { get; init; }
    public long LastSequence { get; init; }
    public string? AssignedAgentId { get; init; }
    /// <summary>Why the conversation was last handed to people; kept after it goes back to the bot.</summary>
    public string? HandoffReason { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }
}

/// <summary>
/// The conversation state machine: <c>bot → pending_human → human → bot | closed</c>, plus
/// <c>pending_human → closed</c> and <c>bot → closed</c>. The AI answers only in <c>bot</c>.
/// </summary>
public static class ConversationStatus
{
    public const string Bot = "bot";
    public const string PendingHuman = "pending_human";
    public const string Human = "human";
    public const string Closed = "closed";

    public static readonly IReadOnlySet<string> All = new HashSet<string> { Bot, PendingHuman, Human, Closed };

    public static bool CanMove(string from, string to) => (from, to) switch
    {
        (Bot, PendingHuman) => true,
        (PendingHuman, Human) => true,
        (Human, Bot) => true,
        (Bot or PendingHuman or Human, Closed) => true,
        _ => false,
    };
}
