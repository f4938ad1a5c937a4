using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Hub.Core.Hosting;
using Microsoft.Extensions.Options;
using OpenAI;
using OpenAI.Chat;

namespace Hub.AiWorker.Llm;

/// <summary>
/// Any OpenAI-compatible Chat Completions server (<c>HUB_LLM_BASE_URL</c>), through the official SDK.
/// The SDK's own retries are off: <see cref="LlmResilience"/> owns retrying so it happens once, in one place.
/// Streaming asks for usage in the last chunk (<c>stream_options.include_usage</c>, which the SDK sets).
/// </summary>
public sealed class OpenAiProvider(IOptions<HubOptions> hub, IOptions<AiWorkerOptions> worker) : ILlmProvider
{
    public const string HandoffTool = "handoff_to_human";

    /// <summary>Offered with every request: the model calls it to give the conversation to people.</summary>
    private static readonly ChatTool Handoff = ChatTool.CreateFunctionTool(HandoffTool,
        "Hand the conversation to a human support agent: when the user asks for a person, or when you cannot help.",
        BinaryData.FromString("""{"type":"object","properties":{"reason":{"type":"string","description":"Why a person is needed."}}}"""));

    private readonly ConcurrentDictionary<string, ChatClient> _clients = new();

    public string Name => "openai";

    public string ModelFor(LlmRequest request) => request.Model ?? hub.Value.LlmModel ?? "gpt-4o-mini";

    public async IAsyncEnumerable<LlmUpdate> StreamAsync(LlmRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        var model = ModelFor(request);
        var client = _clients.GetOrAdd(model, CreateClient);
        var options = new ChatCompletionOptions();
        if (request.Temperature is { } t) options.Temperature = (float)t;
        options.Tools.Add(Handoff);

        var messages = request.Messages.Select(ToSdk).ToList();
        IAsyncEnumerator<StreamingChatCompletionUpdate> updates;
        try
        {
            updates = client.CompleteChatStreamingAsync(messages, options, ct).GetAsyncEnumerator(ct);
        }
        catch (Exception e) when (Classify(e, ct) is { } mapped) { throw mapped; }

        LlmTokenUsage? usage = null;
        var handoff = false;
        int? handoffCall = null;
        var handoffArguments = new System.Text.StringBuilder();
        var completion = new System.Text.StringBuilder();
        try
        {
            while (true)
            {
                StreamingChatCompletionUpdate update;
                try
                {
                    if (!await updates.MoveNextAsync()) break;
                    update = updates.Current;
                }
                catch (Exception e) when (Classify(e, ct) is { } mapped) { throw mapped; }

                foreach (var part in update.ContentUpdate)
                {
                    if (string.IsNullOrEmpty(part.Text)) continue;
                    completion.Append(part.Text);
                    yield return new LlmUpdate(part.Text);
                }
                if (update.Usage is { } u) usage = new LlmTokenUsage(u.InputTokenCount, u.OutputTokenCount);
                // Tool calls stream in pieces: the name comes once, the JSON arguments in chunks of the same index.
                foreach (var call in update.ToolCallUpdates)
                {
                    if (call.FunctionName == HandoffTool) { handoff = true; handoffCall ??= call.Index; }
                    if (handoffCall == call.Index && call.FunctionArgumentsUpdate is { } args && !args.IsEmpty) handoffArguments.Append(args.ToString());
                }
            }
        }
        finally
        {
            await updates.DisposeAsync();
        }

        // A server that ignores include_usage still gets billed honestly: counted, not invented.
        yield return new LlmUpdate(null, usage ?? new LlmTokenUsage(
            TokenCounter.CountPrompt(request.Messages), TokenCounter.Count(completion.ToString())), handoff,
            handoff ? HandoffReason(handoffArguments.ToString()) : null);
    }

    /// <summary>The tool's <c>reason</c> argument; a model that sends none or broken JSON still hands off, without one.</summary>
    internal static string? HandoffReason(string arguments)
    {
        if (string.IsNullOrWhiteSpace(arguments)) return null;
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(arguments);
            return json.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && json.RootElement.TryGetProperty("reason", out var reason) && reason.ValueKind == System.Text.Json.JsonValueKind.String
                ? reason.GetString()
                : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private ChatClient CreateClient(string model)
    {
        var options = new OpenAIClientOptions
        {
            Endpoint = new Uri(hub.Value.LlmBaseUrl!),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = TimeSpan.FromSeconds(worker.Value.LlmAttemptTimeoutSeconds),
        };
        options.AddPolicy(new CompactRequestBodyPolicy(), PipelinePosition.PerCall);
        var key = string.IsNullOrEmpty(hub.Value.LlmApiKey) ? "not-needed" : hub.Value.LlmApiKey;
        return new ChatClient(model, new ApiKeyCredential(key), options);
    }

    private static ChatMessage ToSdk(ChatTurn turn) => turn.Role switch
    {
        "system" => new SystemChatMessage(turn.Content),
        "assistant" => new AssistantChatMessage(turn.Content),
        _ => new UserChatMessage(turn.Content),
    };

    /// <summary>Maps SDK and network failures to transient or permanent; null lets caller cancellation through.</summary>
    internal static Exception? Classify(Exception e, CancellationToken ct)
    {
        if (ct.IsCancellationRequested) return null;
        return e switch
        {
            ClientResultException { Status: 429 or 408 or >= 500 } r =>
                new LlmTransientException($"LLM server answered {r.Status}.", RetryAfter(r), e),
            ClientResultException { Status: 0 } => new LlmTransientException("LLM server unreachable.", null, e),
            ClientResultException r => new LlmPermanentException($"LLM server answered {r.Status}: {r.Message}", e),
            HttpRequestException or IOException => new LlmTransientException("LLM connection failed.", null, e),
            OperationCanceledException => new LlmTransientException("LLM request timed out.", null, e),
            _ => null,
        };
    }

    private static TimeSpan? RetryAfter(ClientResultException e)
    {
        var response = e.GetRawResponse();
        if (response is null || !response.Headers.TryGetValue("Retry-After", out var value)) return null;
        if (int.TryParse(value, out var seconds)) return TimeSpan.FromSeconds(seconds);
        return DateTimeOffset.TryParse(value, out var at) ? at - DateTimeOffset.UtcNow : null;
    }
}
