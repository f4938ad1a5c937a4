using Hub.TestSupport;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hub.FunctionalTests.Inbox;

/// <summary>
/// A small OpenAI-compatible Chat Completions server on loopback that can answer with text or with a call
/// of the <c>handoff_to_human</c> tool, streamed the way OpenAI streams tool calls:
/// <c>choices[0].delta.tool_calls[{index,id,type,function:{name,arguments}}]</c>, then
/// <c>finish_reason:"tool_calls"</c>, a usage chunk and <c>data: [DONE]</c>. The first chunk can be delayed
/// (a slow model), which is how the in-flight handoff race is staged.
/// </summary>
public sealed class ToolCallingLlm : IAsyncDisposable
{
    public const string HandoffTool = "handoff_to_human";

    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<JsonObject> _requests = [];
    private readonly List<(Func<JsonObject, bool> Match, TaskCompletionSource<JsonObject> Arrived)> _watchers = [];
    private int _inFlight;

    private ToolCallingLlm(WebApplication app) => _app = app;

    public static async Task<ToolCallingLlm> StartAsync()
    {
        var app = LoopbackServer.Create();
        var llm = new ToolCallingLlm(app);
        app.MapPost("/v1/chat/completions", llm.CompleteAsync);
        var address = await LoopbackServer.StartAsync(app);
        llm.BaseUrl = new Uri(address, "v1").ToString();
        return llm;
    }

    /// <summary>What Hub's <c>HUB_LLM_BASE_URL</c> should be.</summary>
    public string BaseUrl { get; private set; } = "";

    /// <summary>Decides, per request, whether the model calls <c>handoff_to_human</c> (default: when the last user message says "person").</summary>
    public Func<string, bool> CallsHandoffFor { get; set; } = lastUserMessage => lastUserMessage.Contains("person", StringComparison.OrdinalIgnoreCase);

    public string ReplyText { get; set; } = "The model answers.";

    /// <summary>The <c>handoff_to_human</c> call's JSON arguments, streamed in two pieces as OpenAI does.</summary>
    public string HandoffArguments { get; set; } = $$"""{"reason":"{{HandoffReason}}"}""";

    public const string HandoffReason = "The user asked for a person about an invoice.";

    /// <summary>Before the first chunk of requests whose last user message contains the key.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, TimeSpan> SlowFor { get; } = new();

    public int InFlight => Volatile.Read(ref _inFlight);

    public IReadOnlyList<JsonObject> Requests
    {
        get { lock (_gate) return [.. _requests]; }
    }

    /// <summary>Completes with the request body when a request whose last user message contains <paramref name="text"/> arrives.</summary>
    public Task<JsonObject> RequestAbout(string text)
    {
        lock (_gate)
        {
            if (_requests.FirstOrDefault(r => LastUserMessage(r).Contains(text)) is { } seen) return Task.FromResult(seen);
            var arrived = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
            _watchers.Add((r => LastUserMessage(r).Contains(text), arrived));
            return arrived.Task;
        }
    }

    public static string LastUserMessage(JsonObject body) =>
        body["messages"]!.AsArray().LastOrDefault(m => m!["role"]?.GetValue<string>() == "user")?["content"]?.ToString() ?? "";

    private async Task CompleteAsync(HttpContext http)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            await AnswerAsync(http);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task AnswerAsync(HttpContext http)
    {
        var body = (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted))!.AsObject();
        var question = LastUserMessage(body);
        var delay = TimeSpan.Zero;
        lock (_gate)
        {
            _requests.Add(body);
            foreach (var watcher in _watchers.Where(w => w.Match(body)).ToList())
            {
                watcher.Arrived.TrySetResult(body);
                _watchers.Remove(watcher);
            }
            foreach (var (key, slow) in SlowFor)
                if (question.Contains(key)) delay = slow;
        }

        http.Response.ContentType = "text/event-stream";
        if (delay > TimeSpan.Zero) await Task.Delay(delay, http.RequestAborted);

        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var model = body["model"]?.GetValue<string>() ?? "gpt-fake";
        JsonObject Chunk(JsonArray choices) => new()
        {
            ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model, ["choices"] = choices,
        };
        JsonArray Choice(JsonObject delta, string? finish) =>
            [new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish }];

        if (CallsHandoffFor(question))
        {
            await WriteAsync(http, Chunk(Choice(new JsonObject
            {
                ["role"] = "assistant",
                ["content"] = null,
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["id"] = "call_" + Guid.NewGuid().ToString("N")[..12],
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = HandoffTool, ["arguments"] = "" },
                }),
            }, null)));
            var arguments = HandoffArguments;
            foreach (var piece in new[] { arguments[..(arguments.Length / 2)], arguments[(arguments.Length / 2)..] })
                await WriteAsync(http, Chunk(Choice(new JsonObject
                {
                    ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = 0, ["function"] = new JsonObject { ["arguments"] = piece } }),
                }, null)));
            await WriteAsync(http, Chunk(Choice(new JsonObject(), "tool_calls")));
        }
        else
        {
            var first = true;
            foreach (var word in ReplyText.Split(' '))
            {
                var delta = new JsonObject { ["content"] = (first ? "" : " ") + word };
                if (first) delta["role"] = "assistant";
                first = false;
                await WriteAsync(http, Chunk(Choice(delta, null)));
            }
            await WriteAsync(http, Chunk(Choice(new JsonObject(), "stop")));
        }

        var usage = Chunk([]);
        usage["usage"] = new JsonObject { ["prompt_tokens"] = 12, ["completion_tokens"] = 3, ["total_tokens"] = 15 };
        await WriteAsync(http, usage);
        await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
    }

    private static async Task WriteAsync(HttpContext http, JsonObject chunk)
    {
        await http.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n", Encoding.UTF8, http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
