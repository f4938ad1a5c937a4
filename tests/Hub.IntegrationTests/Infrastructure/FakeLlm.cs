using Hub.TestSupport;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>
/// An OpenAI-compatible Chat Completions server on loopback that streams slowly: <see cref="Chunks"/> content
/// chunks <see cref="ChunkDelay"/> apart (20 × 50 ms: a second per reply, long enough to kill a worker
/// mid-stream), a finish chunk, a usage chunk, then <c>[DONE]</c>. The reply echoes the last user message, so a
/// test can tell whose reply it got. Requests are counted per caller, by the bearer key each Hub process is
/// given (<c>HUB_LLM_API_KEY</c>), so a test can wait until a given worker is mid-stream.
/// </summary>
public sealed class FakeLlm : IAsyncDisposable
{
    public const int PromptTokens = 12;
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, int> _inFlight = new();
    private readonly ConcurrentDictionary<string, int> _requests = new();
    private int _started;
    private int _completed;
    private int _aborted;

    private FakeLlm(WebApplication app) => _app = app;

    public static async Task<FakeLlm> StartAsync()
    {
        var app = LoopbackServer.Create();
        var llm = new FakeLlm(app);
        app.MapPost("/v1/chat/completions", llm.CompleteAsync);
        var address = await LoopbackServer.StartAsync(app);
        llm.BaseUrl = new Uri(address, "v1").ToString();
        return llm;
    }

    /// <summary>What <c>HUB_LLM_BASE_URL</c> should be.</summary>
    public string BaseUrl { get; private set; } = "";

    public int Chunks { get; set; } = 20;
    public TimeSpan ChunkDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    public int Started => Volatile.Read(ref _started);
    public int Completed => Volatile.Read(ref _completed);

    /// <summary>Streams cut off before <c>[DONE]</c> (the caller went away, e.g. a killed worker).</summary>
    public int Aborted => Volatile.Read(ref _aborted);

    /// <summary>Streams being written right now to the caller with this key.</summary>
    public int InFlight(string callerKey) => _inFlight.TryGetValue(callerKey, out var n) ? n : 0;

    /// <summary>Requests so far from the caller with this key.</summary>
    public int Requests(string callerKey) => _requests.TryGetValue(callerKey, out var n) ? n : 0;

    /// <summary>The full reply text the fake produces for a user message.</summary>
    public string ReplyTo(string userContent) => string.Concat(Pieces(userContent));

    private IEnumerable<string> Pieces(string userContent)
    {
        yield return $"Echo[{userContent}]";
        for (var i = 1; i < Chunks; i++) yield return $" part{i}";
    }

    private async Task CompleteAsync(HttpContext http)
    {
        var caller = http.Request.Headers.Authorization.ToString().Replace("Bearer ", "", StringComparison.Ordinal);
        var body = (await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted))!.AsObject();
        Interlocked.Increment(ref _started);
        _requests.AddOrUpdate(caller, 1, (_, n) => n + 1);
        _inFlight.AddOrUpdate(caller, 1, (_, n) => n + 1);
        try
        {
            await StreamAsync(http, body);
            Interlocked.Increment(ref _completed);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException
                                      or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            Interlocked.Increment(ref _aborted);
        }
        finally
        {
            _inFlight.AddOrUpdate(caller, 0, (_, n) => n - 1);
        }
    }

    private async Task StreamAsync(HttpContext http, JsonObject body)
    {
        var model = body["model"]?.GetValue<string>() ?? "fake-model";
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var ct = http.RequestAborted;
        http.Response.ContentType = "text/event-stream";

        var first = true;
        foreach (var piece in Pieces(LastUserContent(body)))
        {
            var delta = new JsonObject { ["content"] = piece };
            if (first) delta["role"] = "assistant";
            first = false;
            await WriteAsync(http, Chunk(id, created, model, [new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = null }]), ct);
            await Task.Delay(ChunkDelay, ct);
        }
        await WriteAsync(http, Chunk(id, created, model, [new JsonObject { ["index"] = 0, ["delta"] = new JsonObject(), ["finish_reason"] = "stop" }]), ct);
        var usage = Chunk(id, created, model, []);
        usage["usage"] = new JsonObject { ["prompt_tokens"] = PromptTokens, ["completion_tokens"] = Chunks, ["total_tokens"] = PromptTokens + Chunks };
        await WriteAsync(http, usage, ct);
        await http.Response.WriteAsync("data: [DONE]\n\n", ct);
        await http.Response.Body.FlushAsync(ct);
    }

    private static string LastUserContent(JsonObject body)
    {
        var last = body["messages"]?.AsArray().LastOrDefault(m => m?["role"]?.GetValue<string>() == "user");
        return last?["content"] switch
        {
            JsonValue text => text.GetValue<string>(),
            JsonArray parts => string.Concat(parts.Select(p => p?["text"]?.GetValue<string>())),
            _ => "",
        };
    }

    private static JsonObject Chunk(string id, long created, string model, JsonArray choices) => new()
    {
        ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model, ["choices"] = choices,
    };

    private static async Task WriteAsync(HttpContext http, JsonObject chunk, CancellationToken ct)
    {
        await http.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n", ct);
        await http.Response.Body.FlushAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
