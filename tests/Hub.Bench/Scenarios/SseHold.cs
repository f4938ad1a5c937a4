using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Hub.Bench.Infrastructure;
using static Hub.Bench.Infrastructure.Stats;

namespace Hub.Bench.Scenarios;

/// <summary>
/// <c>sse_hold</c>: as many streaming requests held open at once as Hub takes, each waiting on a model
/// that has not answered yet (the fake's <c>slow-600000</c> model: first chunk after 10 minutes), with
/// Hub's resident memory (VmRSS) while they are open. Hub runs with <c>HUB_AI_CONCURRENCY</c> above the
/// stream count, so every stream also has its LLM call in flight: the worst case for memory.
/// </summary>
public static class SseHold
{
    public static async Task<JsonObject> RunAsync(BenchRun run, string database)
    {
        var target = run.Settings.SseStreams;
        await using var hub = await run.StartHubAsync(database, new Dictionary<string, string?>
        {
            ["HUB_AI_CONCURRENCY"] = (target + 64).ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, "hub-sse.log");
        using var setupClient = HubApi.NewClient();
        var api = new HubApi(setupClient, hub.Url);
        var bot = await api.CreateBotAsync("bench-sse-hold", model: "slow-600000", blockingTimeoutSeconds: 600);
        var conversations = await api.CreateConversationsAsync(bot.ApiKey, Math.Max(1, target / 10));
        var (llmRequestsBefore, _) = await run.Fakes.LlmAsync();
        await Task.Delay(1000);
        var idleRss = hub.Process.RssMb() ?? double.NaN;

        using var http = HubApi.NewClient(Timeout.InfiniteTimeSpan);
        using var close = new CancellationTokenSource();
        var opening = new SemaphoreSlim(128);
        int opened = 0, refused = 0, ended = 0;
        string? firstError = null;
        var streams = new List<Task>(target);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < target; i++)
        {
            await opening.WaitAsync();
            var conversation = conversations[i % conversations.Length];
            var n = i;
            streams.Add(Task.Run(async () =>
            {
                HttpResponseMessage? response = null;
                try
                {
                    using var request = api.MessageRequest(bot.ApiKey, conversation, $"Question {n}: where is my order?", "streaming");
                    response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, close.Token);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref refused);
                        Interlocked.CompareExchange(ref firstError, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}", null);
                        return;
                    }
                    Interlocked.Increment(ref opened);
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
                {
                    Interlocked.Increment(ref refused);
                    Interlocked.CompareExchange(ref firstError, e.Message, null);
                    response?.Dispose();
                    return;
                }
                finally
                {
                    opening.Release();
                }

                using (response)
                {
                    try
                    {
                        await using var body = await response.Content.ReadAsStreamAsync(close.Token);
                        var buffer = new byte[1024];
                        int read;
                        while ((read = await body.ReadAsync(buffer, close.Token)) > 0)
                        {
                            var text = Encoding.UTF8.GetString(buffer, 0, read);
                            if (text.Contains("event: error", StringComparison.Ordinal))
                                Interlocked.CompareExchange(ref firstError, text.Trim(), null);
                        }
                        Interlocked.Increment(ref ended);
                    }
                    catch (OperationCanceledException) when (close.IsCancellationRequested) { }
                    catch (Exception e) when (e is HttpRequestException or IOException)
                    {
                        Interlocked.Increment(ref ended);
                        Interlocked.CompareExchange(ref firstError, e.Message, null);
                    }
                }
            }));
        }
        // Every stream that opened holds its LLM call: wait until the fake sees them all (or give up after a while).
        await WaitUntilAsync(async () => Volatile.Read(ref opened) + Volatile.Read(ref refused) >= target, TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(50));
        var openSeconds = watch.Elapsed.TotalSeconds;
        await WaitUntilAsync(async () => (await run.Fakes.LlmAsync()).InFlight >= Volatile.Read(ref opened) - Volatile.Read(ref ended),
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));
        await Task.Delay(2000);
        double rss = 0;
        for (var i = 0; i < 4; i++)
        {
            rss = Math.Max(rss, hub.Process.RssMb() ?? 0);
            await Task.Delay(500);
        }
        var held = Volatile.Read(ref opened) - Volatile.Read(ref ended);
        var (llmRequests, llmInFlight) = await run.Fakes.LlmAsync();
        var threads = hub.Process.Threads();
        var peak = hub.Process.PeakRssMb();

        var closeWatch = Stopwatch.StartNew();
        close.Cancel();
        await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { });
        var closeSeconds = closeWatch.Elapsed.TotalSeconds;

        var result = new JsonObject
        {
            ["streams"] = held,
            ["rss_mb"] = Round(rss, 1),
            ["target"] = target,
            ["opened"] = opened,
            ["refused"] = refused,
            ["ended_early"] = ended,
            ["llm_calls_in_flight"] = llmInFlight,
            ["llm_calls_started"] = llmRequests - llmRequestsBefore,
            ["idle_rss_mb"] = Round(idleRss, 1),
            ["peak_rss_mb"] = Round(peak ?? double.NaN, 1),
            ["kb_per_stream"] = Round((rss - idleRss) * 1024 / Math.Max(1, held), 1),
            ["hub_threads"] = threads,
            ["open_seconds"] = Round(openSeconds, 3),
            ["close_seconds"] = Round(closeSeconds, 3),
        };
        if (firstError is not null) result["first_error"] = firstError.Length > 300 ? firstError[..300] : firstError;
        return result;
    }
}
