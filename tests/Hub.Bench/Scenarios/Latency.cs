using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text.Json.Nodes;
using Hub.Bench.Infrastructure;
using OpenAI;
using OpenAI.Chat;
using static Hub.Bench.Infrastructure.Stats;

namespace Hub.Bench.Scenarios;

/// <summary>
/// <c>blocking</c> and <c>streaming</c>: one request at a time, the same chat sent straight to the fake
/// LLM (through the OpenAI SDK, as Hub's worker sends it: same system prompt, same tool, streaming with
/// usage) and through Hub, interleaved so that both see the same machine. Each Hub request uses a fresh
/// conversation, so both prompts are the system message and the one user message.
/// Blocking floor = the whole streamed completion; streaming floor = its first content chunk.
/// </summary>
public static class Latency
{
    private static readonly ChatTool Handoff = ChatTool.CreateFunctionTool("handoff_to_human",
        "Hand the conversation to a human support agent: when the user asks for a person, or when you cannot help.",
        BinaryData.FromString("""{"type":"object","properties":{"reason":{"type":"string","description":"Why a person is needed."}}}"""));

    public static async Task<(JsonObject Blocking, JsonObject Streaming)> RunAsync(BenchRun run, HubProcess hub, HubApi api)
    {
        var settings = run.Settings;
        var bot = await api.CreateBotAsync("bench-latency");
        var total = settings.LatencyWarmup + settings.LatencyIterations;
        var conversations = await api.CreateConversationsAsync(bot.ApiKey, total * 2);
        var chat = new ChatClient(bot.Model, new ApiKeyCredential("sk-bench"), new OpenAIClientOptions
        {
            Endpoint = new Uri(run.Fakes.LlmUrl + "/v1"),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        });
        using var http = HubApi.NewClient(TimeSpan.FromSeconds(60));

        var (getConversation, createConversation) = await BaselinesAsync(api, http, bot, conversations[0], settings.Quick ? 100 : 300);

        List<double> directBlocking = [], hubBlocking = [], directTtft = [], hubTtft = [], directStreamTotal = [], hubStreamTotal = [];
        var errors = 0;
        string? firstError = null;
        var cpuBefore = 0.0;
        var cpuStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            if (i == settings.LatencyWarmup) (cpuBefore, cpuStarted) = (hub.Process.CpuSeconds() ?? 0, System.Diagnostics.Stopwatch.GetTimestamp());
            var measured = i >= settings.LatencyWarmup;
            var content = $"Where is my order #{i}? It was placed on Monday.";
            // Alternate which side goes first, so neither always follows the other's work.
            var hubFirst = i % 2 == 1;
            try
            {
                double db, hb;
                if (hubFirst) { hb = await HubBlockingAsync(api, http, bot, conversations[2 * i], content); db = (await DirectAsync(chat, content, bot)).Total; }
                else { db = (await DirectAsync(chat, content, bot)).Total; hb = await HubBlockingAsync(api, http, bot, conversations[2 * i], content); }

                (double Ttft, double Total) ds, hs;
                if (hubFirst) { hs = await HubStreamingAsync(api, http, bot, conversations[2 * i + 1], content); ds = await DirectAsync(chat, content, bot); }
                else { ds = await DirectAsync(chat, content, bot); hs = await HubStreamingAsync(api, http, bot, conversations[2 * i + 1], content); }

                if (!measured) continue;
                directBlocking.Add(db);
                hubBlocking.Add(hb);
                directTtft.Add(ds.Ttft);
                hubTtft.Add(hs.Ttft);
                directStreamTotal.Add(ds.Total);
                hubStreamTotal.Add(hs.Total);
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException or TaskCanceledException or ClientResultException)
            {
                errors++;
                firstError ??= e.Message;
                if (errors > 20) throw new InvalidOperationException($"Too many failed requests; first: {firstError}", e);
            }
        }
        var cpuWatch = System.Diagnostics.Stopwatch.GetElapsedTime(cpuStarted).TotalSeconds;
        var cpuMs = ((hub.Process.CpuSeconds() ?? 0) - cpuBefore) * 1000;
        var hubRequests = Math.Max(1, hubBlocking.Count * 2);
        // The hub's own background work (scheduler polls, re-drive sweeps), measured once it is warm and quiet,
        // to tell it apart from per-request CPU.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var idleCpuBefore = hub.Process.CpuSeconds() ?? 0;
        await Task.Delay(TimeSpan.FromSeconds(3));
        var idleCpuMsPerSecond = ((hub.Process.CpuSeconds() ?? 0) - idleCpuBefore) * 1000 / 3;

        var blocking = new JsonObject
        {
            ["direct_p50_ms"] = Round(Percentile(directBlocking, 50), 3),
            ["direct_p99_ms"] = Round(Percentile(directBlocking, 99), 3),
            ["hub_p50_ms"] = Round(Percentile(hubBlocking, 50), 3),
            ["hub_p99_ms"] = Round(Percentile(hubBlocking, 99), 3),
            ["overhead_p50_ms"] = Round(Percentile(hubBlocking, 50) - Percentile(directBlocking, 50), 3),
            ["overhead_p99_ms"] = Round(Percentile(hubBlocking, 99) - Percentile(directBlocking, 99), 3),
            ["direct_mean_ms"] = Round(directBlocking.DefaultIfEmpty(double.NaN).Average(), 3),
            ["hub_mean_ms"] = Round(hubBlocking.DefaultIfEmpty(double.NaN).Average(), 3),
            ["samples"] = hubBlocking.Count,
            ["errors"] = errors,
            // Hub process CPU per Hub request (blocking and streaming alike), measured with /proc/<pid>/stat.
            ["hub_cpu_ms_per_request"] = Round(cpuMs / hubRequests, 3),
            ["hub_idle_cpu_ms_per_s"] = Round(idleCpuMsPerSecond, 2),
            ["hub_cpu_ms_per_request_net_of_idle"] = Round((cpuMs - idleCpuMsPerSecond * cpuWatch) / hubRequests, 3),
            // Reference points on the same Hub: HTTP + key auth + one read, and + one write transaction.
            ["hub_get_conversation_p50_ms"] = Round(Percentile(getConversation, 50), 3),
            ["hub_create_conversation_p50_ms"] = Round(Percentile(createConversation, 50), 3),
        };
        if (firstError is not null) blocking["first_error"] = firstError;
        var streaming = new JsonObject
        {
            ["direct_ttft_p50_ms"] = Round(Percentile(directTtft, 50), 3),
            ["hub_ttft_p50_ms"] = Round(Percentile(hubTtft, 50), 3),
            ["direct_ttft_p99_ms"] = Round(Percentile(directTtft, 99), 3),
            ["hub_ttft_p99_ms"] = Round(Percentile(hubTtft, 99), 3),
            ["ttft_overhead_p50_ms"] = Round(Percentile(hubTtft, 50) - Percentile(directTtft, 50), 3),
            ["direct_total_p50_ms"] = Round(Percentile(directStreamTotal, 50), 3),
            ["hub_total_p50_ms"] = Round(Percentile(hubStreamTotal, 50), 3),
            ["samples"] = hubTtft.Count,
        };
        return (blocking, streaming);
    }

    /// <summary>Sequential <c>GET /v1/conversations/{id}</c> and <c>POST /v1/conversations</c> timings: the request floor without the bus and the LLM.</summary>
    private static async Task<(List<double> Get, List<double> Create)> BaselinesAsync(HubApi api, HttpClient http, BotInfo bot, string conversation, int count)
    {
        List<double> get = [], create = [];
        for (var i = 0; i < count + 20; i++)
        {
            using var read = new HttpRequestMessage(HttpMethod.Get, $"{api.BaseUrl}/v1/conversations/{conversation}");
            read.Headers.Authorization = new("Bearer", bot.ApiKey);
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            using (var response = await http.SendAsync(read))
            {
                await response.Content.ReadAsStringAsync();
                if (i >= 20) get.Add(Ms(start));
            }
            start = System.Diagnostics.Stopwatch.GetTimestamp();
            await api.CreateConversationAsync(bot.ApiKey, $"baseline-{i}");
            if (i >= 20) create.Add(Ms(start));
        }
        return (get, create);
    }

    /// <summary>What Hub's worker does for one reply: a streamed completion read to its end.</summary>
    private static async Task<(double Ttft, double Total)> DirectAsync(ChatClient chat, string content, BotInfo bot)
    {
        var options = new ChatCompletionOptions();
        options.Tools.Add(Handoff);
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var ttft = double.NaN;
        var text = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync([new SystemChatMessage(bot.SystemPrompt), new UserChatMessage(content)], options))
        {
            foreach (var part in update.ContentUpdate)
            {
                if (string.IsNullOrEmpty(part.Text)) continue;
                if (text++ == 0) ttft = Ms(start);
            }
        }
        if (text == 0) throw new InvalidOperationException("The fake LLM sent no text.");
        return (ttft, Ms(start));
    }

    private static async Task<double> HubBlockingAsync(HubApi api, HttpClient http, BotInfo bot, string conversation, string content)
    {
        using var request = api.MessageRequest(bot.ApiKey, conversation, content, "blocking");
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var elapsed = Ms(start);
        if (response.StatusCode != HttpStatusCode.OK || !body.Contains("\"answered\"", StringComparison.Ordinal))
            throw new InvalidOperationException($"blocking answered {(int)response.StatusCode}: {body[..Math.Min(300, body.Length)]}");
        return elapsed;
    }

    /// <summary>Time to the first <c>event: message</c> line, and to the end of the stream.</summary>
    private static async Task<(double Ttft, double Total)> HubStreamingAsync(HubApi api, HttpClient http, BotInfo bot, string conversation, string content)
    {
        using var request = api.MessageRequest(bot.ApiKey, conversation, content, "streaming");
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"streaming answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        var ttft = double.NaN;
        var ended = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (double.IsNaN(ttft) && line == "event: message") ttft = Ms(start);
            else if (line == "event: message_end") ended = true;
            else if (line.StartsWith("event: ", StringComparison.Ordinal) && line != "event: message")
                throw new InvalidOperationException($"streaming sent {line}");
        }
        if (!ended || double.IsNaN(ttft)) throw new InvalidOperationException("the stream ended without message/message_end");
        return (ttft, Ms(start));
    }
}
