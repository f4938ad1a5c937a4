namespace Hub.AiWorker.Llm;

/// <summary>One chat model behind the hub: the OpenAI-compatible server or the offline provider.</summary>
public interface ILlmProvider
{
    string Name { get; }

    /// <summary>The model that will answer <paramref name="request"/> (the bot's, else the provider's default).</summary>
    string ModelFor(LlmRequest request) => request.Model ?? Name;

    /// <summary>
    /// Streams the reply. Text arrives in <see cref="LlmUpdate.Text"/> chunks; the last update carries
    /// <see cref="LlmUpdate.Usage"/>. Transient failures surface as <see cref="LlmTransientException"/>.
    /// </summary>
    IAsyncEnumerable<LlmUpdate> StreamAsync(LlmRequest request, CancellationToken ct);
}

/// <param name="Role">system | user | assistant</param>
public sealed record ChatTurn(string Role, string Content);

/// <param name="HandoffOnNoAnswer">The offline provider hands off instead of replying with the fallback text.</param>
public sealed record LlmRequest(
    string? Model,
    double? Temperature,
    IReadOnlyList<ChatTurn> Messages,
    IReadOnlyList<string> Knowledge,
    string? FallbackText,
    bool HandoffOnNoAnswer = false);

/// <param name="Handoff">The model asked to hand the conversation to people (the <c>handoff_to_human</c> tool).</param>
/// <param name="HandoffReason">Why: the tool's <c>reason</c> argument, or "no answer" from the offline provider.</param>
public sealed record LlmUpdate(string? Text, LlmTokenUsage? Usage = null, bool Handoff = false, string? HandoffReason = null);

public sealed record LlmTokenUsage(int PromptTokens, int CompletionTokens);

/// <summary>A failure worth another try: 429, 5xx, a timeout or a dropped connection.</summary>
public sealed class LlmTransientException(string message, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>A failure another try will not fix (400, 401, 404 from the LLM server).</summary>
public sealed class LlmPermanentException(string message, Exception? inner = null) : Exception(message, inner);
