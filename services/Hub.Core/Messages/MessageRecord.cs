namespace Hub.Core.Messages;

/// <summary>A stored message: a user's, an AI reply or an agent's (<see cref="Sender"/> user | ai | human).</summary>
public sealed class MessageRecord
{
    public string Id { get; init; } = "";
    public string ConversationId { get; init; } = "";
    public string BotId { get; init; } = "";
    public long Sequence { get; init; }
    public string Sender { get; init; } = "";
    public string Content { get; init; } = "";
    public string? ReplyTo { get; init; }
    public string? ResponseMode { get; init; }
    public string? ReplyState { get; init; }
    public long? RedriveAt { get; init; }
    public int Attempts { get; init; }
    public string? ErrorCode { get; init; }
    public string? AgentId { get; init; }
    public string? Model { get; init; }
    public int PromptTokens { get; init; }
    public int CompletionTokens { get; init; }
    public double InputCredits { get; init; }
    public double OutputCredits { get; init; }
    public long CreatedAt { get; init; }
    /// <summary>A user message waiting for the bot: the trace of the request that accepted it (W3C <c>traceparent</c>).</summary>
    public string? TraceParent { get; init; }

    public MessageRecord WithSequence(long sequence) => new()
    {
        Id = Id, ConversationId = ConversationId, BotId = BotId, Sequence = sequence, Sender = Sender, Content = Content,
        ReplyTo = ReplyTo, ResponseMode = ResponseMode, ReplyState = ReplyState, RedriveAt = RedriveAt, Attempts = Attempts,
        ErrorCode = ErrorCode, AgentId = AgentId, Model = Model, PromptTokens = PromptTokens, CompletionTokens = CompletionTokens,
        InputCredits = InputCredits, OutputCredits = OutputCredits, CreatedAt = CreatedAt, TraceParent = TraceParent,
    };
}

public static class ReplyStates
{
    public const string Pending = "pending";
    public const string Working = "working";
    public const string Answered = "answered";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
}
