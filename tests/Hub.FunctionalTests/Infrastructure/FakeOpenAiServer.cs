using Hub.TestSupport;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hub.FunctionalTests.Infrastructure;

/// <summary>
/// An OpenAI-compatible Chat Completions server on a real loopback port. <c>POST /v1/chat/completions</c>
/// answers a streaming request the way OpenAI does: <c>data: {chat.completion.chunk}</c> lines with
/// <c>choices[0].delta.content</c>, a last chunk with empty <c>choices</c> and <c>usage</c> when the request
/// asks for <c>stream_options.include_usage</c>, then <c>data: [DONE]</c>. Every request body is recorded;
/// tests script the reply, failures and delays.
/// </summary>
public sealed partial class FakeOpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<RecordedRequest> _requests = [];
    private readonly Queue<(int Status, string? RetryAfter)> _failures = new();
    private readonly Queue<TimeSpan> _slow = new();
    private TaskCompletionSource _requestArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public sealed record RecordedRequest(string Path, JsonObject Body);

    private FakeOpenAiServer(WebApplication app) => _app = app;

    public static async Task<FakeOpenAiServer> StartAsync()
    {
        var app = LoopbackServer.Create();
        var server = new FakeOpenAiServer(app);
        app.MapPost("/v1/chat/completions", server.CompleteAsync);
        var address = await LoopbackServer.StartAsync(app);
        server.BaseUrl = new Uri(address, "v1").ToString();
        return server;
    }

    /// <summary>What Hub's <c>HUB_LLM_BASE_URL</c> should be.</summary>
    public string BaseUrl { get; private set; } = "";

    /// <summary>The reply text; <see cref="ReplyFor"/>, when set, decides per request instead.</summary>
    public string ReplyText { get; set; } = "Your order ships today.";
    public Func<JsonObject, string>? ReplyFor { get; set; }

    public int PromptTokens { get; set; } = 19;
    public int CompletionTokens { get; set; } = 10;

    /// <summary>How long to wait before the first chunk (a slow model).</summary>
    public TimeSpan FirstChunkDelay { get; set; }

    private TaskCompletionSource? _hold;

    /// <summary>Requests wait (before their first chunk) until <see cref="ReleaseReplies"/>: a model that is thinking.</summary>
    public void HoldReplies()
    {
        lock (_gate) _hold ??= new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void ReleaseReplies()
    {
        TaskCompletionSource? hold;
        lock (_gate) (hold, _hold) = (_hold, null);
        hold?.TrySetResult();
    }

    /// <summary>When set, the connection drops after this many content chunks (a model that dies mid-reply).</summary>
    public int? DropAfterChunks { get; set; }

    /// <summary>When set, every request fails with this status (a permanent error such as 400).</summary>
    public int? FailAlwaysWith { get; set; }

    /// <summary>The next <paramref name="times"/> requests fail with <paramref name="status"/> (and a Retry-After header).</summary>
    public void FailNext(int times, int status, string? retryAfter = null)
    {
        lock (_gate)
            for (var i = 0; i < times; i++) _failures.Enqueue((status, retryAfter));
    }

    /// <summary>The next <paramref name="times"/> requests wait <paramref name="delay"/> before their first chunk.</summary>
    public void SlowNext(int times, TimeSpan delay)
    {
        lock (_gate)
            for (var i = 0; i < times; i++) _slow.Enqueue(delay);
    }

    public IReadOnlyList<RecordedRequest> Requests
    {
        get { lock (_gate) return [.. _requests]; }
    }

    /// <summary>Back to a prompt, cheerful model with nothing recorded.</summary>
    public void Reset()
    {
        ReleaseReplies();
        lock (_gate)
        {
            _requests.Clear();
            _failures.Clear();
            _slow.Clear();
            _requestArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        ReplyText = "Your order ships today.";
        ReplyFor = null;
        PromptTokens = 19;
        CompletionTokens = 10;
        FirstChunkDelay = TimeSpan.Zero;
        FailAlwaysWith = null;
        DropAfterChunks = null;
    }

    /// <summary>Completes when a request has arrived (since the last <see cref="Reset"/>).</summary>
    public Task RequestArrived => _requestArrived.Task;

    private int _inFlight;

    /// <summary>Requests being answered right now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

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
        (int Status, string? RetryAfter)? failure;
        var delay = FirstChunkDelay;
        Task held;
        lock (_gate)
        {
            held = _hold?.Task ?? Task.CompletedTask;
            _requests.Add(new RecordedRequest(http.Request.Path, body));
            failure = _failures.Count > 0 ? _failures.Dequeue() : FailAlwaysWith is { } always ? (always, null) : null;
            if (failure is null && _slow.Count > 0) delay = _slow.Dequeue();
            _requestArrived.TrySetResult();
        }

        if (failure is { } f)
        {
            http.Response.StatusCode = f.Status;
            if (f.RetryAfter is not null) http.Response.Headers.RetryAfter = f.RetryAfter;
            await http.Response.WriteAsJsonAsync(new
            {
                error = new { message = $"Scripted failure {f.Status}.", type = f.Status == 429 ? "rate_limit_exceeded" : "server_error", code = (string?)null },
            });
            return;
        }

        await held.WaitAsync(http.RequestAborted);
        if (delay > TimeSpan.Zero) await Task.Delay(delay, http.RequestAborted);

        var model = body["model"]?.GetValue<string>() ?? "gpt-fake";
        var text = ReplyFor?.Invoke(body) ?? ReplyText;
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");

        if (body["stream"]?.GetValue<bool>() != true)
        {
            await http.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text },
                    ["finish_reason"] = "stop",
                }),
                ["usage"] = Usage(),
            });
            return;
        }

        http.Response.ContentType = "text/event-stream";
        var first = true;
        var sent = 0;
        foreach (Match piece in Pieces().Matches(text))
        {
            if (sent++ == DropAfterChunks)
            {
                // Give the client time to read what was sent: a reset can discard data still unread.
                await Task.Delay(300);
                http.Abort();
                return;
            }
            var delta = new JsonObject { ["content"] = piece.Value };
            if (first) delta["role"] = "assistant";
            first = false;
            await WriteChunkAsync(http, Chunk(id, created, model, new JsonArray(new JsonObject
            {
                ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = null,
            })));
        }
        await WriteChunkAsync(http, Chunk(id, created, model, new JsonArray(new JsonObject
        {
            ["index"] = 0, ["delta"] = new JsonObject(), ["logprobs"] = null, ["finish_reason"] = "stop",
        })));
        if (body["stream_options"]?["include_usage"]?.GetValue<bool>() == true)
        {
            var last = Chunk(id, created, model, []);
            last["usage"] = Usage();
            await WriteChunkAsync(http, last);
        }
        await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
    }

    private JsonObject Usage() => new()
    {
        ["prompt_tokens"] = PromptTokens,
        ["completion_tokens"] = CompletionTokens,
        ["total_tokens"] = PromptTokens + CompletionTokens,
    };

    private static JsonObject Chunk(string id, long created, string model, JsonArray choices) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["system_fingerprint"] = "fp_fake",
        ["choices"] = choices,
    };

    private static async Task WriteChunkAsync(HttpContext http, JsonObject chunk)
    {
        await http.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n", Encoding.UTF8, http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    [GeneratedRegex(@"\S+\s*")]
    private static partial Regex Pieces();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One fake LLM and one hub pointed at it, shared by the tests of a class (each test resets the fake).</summary>
public class LlmHubFixture : IAsyncLifetime
{
    public FakeOpenAiServer Llm { get; private set; } = null!;
    public HubFixture Hub { get; private set; } = null!;

    /// <summary>Settings on top of the LLM ones; subclasses add their own.</summary>
    protected virtual IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>();

    public static Dictionary<string, string?> LlmSettings(FakeOpenAiServer llm) => new()
    {
        ["HUB_LLM_BASE_URL"] = llm.BaseUrl,
        ["HUB_LLM_API_KEY"] = "sk-test",
        ["HUB_LLM_RETRY_DELAY_MS"] = "10",
    };

    public async Task InitializeAsync()
    {
        Llm = await FakeOpenAiServer.StartAsync();
        var settings = LlmSettings(Llm);
        foreach (var (k, v) in ExtraSettings) settings[k] = v;
        Hub = HubFixture.With(settings);
        await ((IAsyncLifetime)Hub).InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await ((IAsyncLifetime)Hub).DisposeAsync();
        await Llm.DisposeAsync();
    }
}
