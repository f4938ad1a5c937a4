using System.Text.Json.Serialization;

namespace Hub.Core.Messages;

/// <summary>
/// The reply object of the contract: the blocking body, the streaming <c>message_end</c> data and the
/// webhook <c>message.reply</c> data.
/// </summary>
public sealed record ReplyObject(
    string ConversationId,
    string MessageId,
    string? ReplyTo,
    long Sequence,
    long CreateTime,
    DateTimeOffset CreatedAt,
    string From,
    IReadOnlyList<ReplyOutput> Output,
    Usage Usage)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Status { get; init; }

    public static ReplyObject Of(MessageRecord reply) => new(
        reply.ConversationId,
        reply.Id,
        reply.ReplyTo,
        reply.Sequence,
        reply.CreatedAt / 1000,
        DateTimeOffset.FromUnixTimeMilliseconds(reply.CreatedAt),
        reply.Sender,
        [new ReplyOutput(new ReplyContent(reply.Content))],
        Usage.From(reply));
}

public sealed record ReplyOutput(ReplyContent Content);
public sealed record ReplyContent(string Text);

public sealed record Usage(TokenUsage Tokens, CreditUsage Credits)
{
    public static Usage From(MessageRecord m) => new(
        new TokenUsage(m.PromptTokens, m.CompletionTokens, m.PromptTokens + m.CompletionTokens),
        CreditUsage.Of(m.InputCredits, m.OutputCredits));
}

public sealed record TokenUsage(long PromptTokens, long CompletionTokens, long TotalTokens);

public sealed record CreditUsage(double TextInputCredits, double TextOutputCredits, double TotalCredits)
{
    public static CreditUsage Of(double input, double output) =>
        new(Math.Round(input, 6), Math.Round(output, 6), Math.Round(input + output, 6));
}

/// <summary>Credits from a bot's pricing, per 1,000 input and output tokens.</summary>
public static class Credits
{
    public static (double Input, double Output) For(int promptTokens, int completionTokens, double inputPer1k, double outputPer1k) =>
        (Math.Round(promptTokens * inputPer1k / 1000d, 6), Math.Round(completionTokens * outputPer1k / 1000d, 6));
}
