using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Hub.Bench.Fakes;

/// <summary>
/// An OpenAI-compatible <c>POST /v1/chat/completions</c>. Streaming answers the way OpenAI does: one
/// <c>chat.completion.chunk</c> per word, a finish chunk, a usage chunk when
/// <c>stream_options.include_usage</c> is asked for, then <c>data: [DONE]</c>; each flushed on its own.
/// A model named <c>slow-&lt;ms&gt;</c> waits that long before its first chunk (a model that is thinking);
/// any other model answers at once.
/// </summary>
public static partial class FakeLlm
{
    public const string ReplyText = "Your order ships today. It should arrive within two business days, and returns are free for 30 days.";
    public const int PromptTokens = 42;
    public static readonly int CompletionTokens = Pieces().Matches(ReplyText).Count;

    private static readonly string[] EncodedPieces =
        Pieces().Matches(ReplyText).Select(m => JsonSerializer.Serialize(m.Value)).ToArray();

    private static long _requests;
    private static long _inFlight;

    public static async Task CompleteAsync(HttpContext http)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Increment(ref _inFlight);
        try
        {
            await AnswerAsync(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The hub gave up (or was stopped) while the model was thinking.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private static async Task AnswerAsync(HttpContext http)
    {
        var model = "fake";
        bool stream, usage;
        using (var document = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted))
        {
            var root = document.RootElement;
            if (root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String) model = m.GetString()!;
            stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
            usage = root.TryGetProperty("stream_options", out var o) && o.ValueKind == JsonValueKind.Object
                && o.TryGetProperty("include_usage", out var u) && u.ValueKind == JsonValueKind.True;
        }

        if (model.StartsWith("slow-", StringComparison.Ordinal)
            && int.TryParse(model.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var delayMs))
            await Task.Delay(delayMs, http.RequestAborted);

        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var encodedModel = JsonSerializer.Serialize(model);
        var usageJson = $"{{\"prompt_tokens\":{PromptTokens},\"completion_tokens\":{CompletionTokens},\"total_tokens\":{PromptTokens + CompletionTokens}}}";

        if (!stream)
        {
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(
                $"{{\"id\":\"{id}\",\"object\":\"chat.completion\",\"created\":{created},\"model\":{encodedModel},\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":{JsonSerializer.Serialize(ReplyText)}}},\"finish_reason\":\"stop\"}}],\"usage\":{usageJson}}}",
                http.RequestAborted);
            return;
        }

        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var prefix = $"data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{encodedModel},\"system_fingerprint\":\"fp_bench\",\"choices\":";
        for (var i = 0; i < EncodedPieces.Length; i++)
        {
            var role = i == 0 ? "\"role\":\"assistant\"," : "";
            await SendAsync(http, $"{prefix}[{{\"index\":0,\"delta\":{{{role}\"content\":{EncodedPieces[i]}}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n");
        }
        await SendAsync(http, $"{prefix}[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n");
        if (usage) await SendAsync(http, $"{prefix}[],\"usage\":{usageJson}}}\n\n");
        await SendAsync(http, "data: [DONE]\n\n");
    }

    private static async Task SendAsync(HttpContext http, string text)
    {
        await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    public static Task StatsAsync(HttpContext http) => FakeServers.WriteJsonAsync(http, new JsonObject
    {
        ["requests"] = Interlocked.Read(ref _requests),
        ["in_flight"] = Interlocked.Read(ref _inFlight),
    });

    [GeneratedRegex(@"\S+\s*")]
    private static partial Regex Pieces();
}
