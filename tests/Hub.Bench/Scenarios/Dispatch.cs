using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hub.Bench.Infrastructure;
using Microsoft.Data.Sqlite;
using static Hub.Bench.Infrastructure.Stats;

namespace Hub.Bench.Scenarios;

/// <summary>
/// <c>dispatch</c>: N deliveries already stored (written into the SQLite file while Hub is stopped, as
/// <c>WebhookOutbox.EnqueueAsync</c> writes them: <c>pending</c>, due now, the exact body to send), then
/// Hub started with only <c>HUB_ROLES=dispatcher</c>. It first sends warm-up deliveries to another hook (the
/// bots' URL points there); once they are all received the bench points the bots back at the measured hook
/// and stores the N measured deliveries in one transaction: time from the first to the last received.
/// Against it, a bare <c>HttpClient</c> loop posting the same bodies, with the same headers and the same
/// concurrency, to the same receiver. The deliveries are spread over several bots so the dispatcher's
/// per-endpoint limit (4) does not cap it below its overall concurrency (64).
/// </summary>
public static class Dispatch
{
    public static async Task<IReadOnlyList<BotInfo>> CreateBotsAsync(BenchRun run, HubApi api)
    {
        var bots = new List<BotInfo>();
        for (var i = 0; i < run.Settings.DispatchEndpoints; i++)
            bots.Add(await api.CreateBotAsync($"bench-dispatch-{i}", webhookUrl: run.Fakes.HookUrl("dispatch")));
        return bots;
    }

    public static async Task<JsonObject> RunAsync(BenchRun run, IReadOnlyList<BotInfo> bots, string database)
    {
        var settings = run.Settings;
        var n = settings.DispatchDeliveries;
        var payloads = Enumerable.Range(0, n).Select(Payload).ToArray();
        var warmup = settings.DispatchWarmup;
        Insert(database, bots, Enumerable.Range(0, warmup).Select(Payload).ToArray(), run.Fakes.HookUrl("dispatch-warmup"));

        await run.Fakes.ConfigureHookAsync("dispatch-warmup");
        await run.Fakes.ConfigureHookAsync("dispatch");
        var startUnixMs = Webhooks.UnixMs();
        HookStats stats;
        bool done;
        double? cpuSeconds, rss;
        double insertSeconds;
        await using (var hub = await run.StartHubAsync(database, new Dictionary<string, string?> { ["HUB_ROLES"] = "dispatcher" }, "hub-dispatcher.log"))
        {
            if (!await WaitUntilAsync(async () => (await run.Fakes.HookAsync("dispatch-warmup")).OkIds >= warmup, settings.DispatchDeadline, TimeSpan.FromMilliseconds(20)))
                throw new InvalidOperationException($"the dispatcher did not deliver the {warmup} warm-up deliveries within {settings.DispatchDeadline.TotalSeconds} s");
            var cpuBefore = hub.Process.CpuSeconds();
            var insertWatch = Stopwatch.StartNew();
            Insert(database, bots, payloads, run.Fakes.HookUrl("dispatch"));
            insertSeconds = insertWatch.Elapsed.TotalSeconds;
            done = await WaitUntilAsync(async () => (await run.Fakes.HookAsync("dispatch")).OkIds >= n, settings.DispatchDeadline, TimeSpan.FromMilliseconds(20));
            stats = await run.Fakes.HookAsync("dispatch");
            cpuSeconds = hub.Process.CpuSeconds() - cpuBefore;
            rss = hub.Process.RssMb();
        }
        var seconds = (stats.LastOkUnixMs - stats.FirstOkUnixMs) / 1000;
        var fromStart = ((done ? stats.LastOkUnixMs : Webhooks.UnixMs()) - startUnixMs) / 1000;

        var (bareSeconds, bareErrors, bareCpuSeconds) = await BareLoopAsync(run, payloads, settings.DispatchConcurrency);
        var bare = await run.Fakes.HookAsync("bare");
        var bareReceiverSeconds = (bare.LastOkUnixMs - bare.FirstOkUnixMs) / 1000;
        var perSecond = stats.OkIds / seconds;
        var directPerSecond = bare.OkIds / bareReceiverSeconds;

        return new JsonObject
        {
            ["deliveries"] = n,
            ["seconds"] = Round(seconds, 3),
            ["per_s"] = Round(perSecond, 1),
            ["direct_posts_per_s"] = Round(directPerSecond, 1),
            ["ratio"] = Round(perSecond / directPerSecond, 3),
            ["received"] = stats.OkIds,
            ["completed"] = done,
            ["duplicates"] = stats.DuplicateIds,
            ["seconds_from_process_start"] = Round(fromStart, 3),
            ["warmup_deliveries"] = warmup,
            ["endpoints"] = bots.Count,
            ["concurrency"] = settings.DispatchConcurrency,
            ["hub_cpu_ms_per_delivery"] = Round((cpuSeconds ?? double.NaN) * 1000 / Math.Max(1, stats.OkIds), 3),
            ["hub_rss_mb"] = Round(rss ?? double.NaN, 1),
            ["direct_seconds"] = Round(bareReceiverSeconds, 3),
            ["direct_client_seconds"] = Round(bareSeconds, 3),
            ["direct_errors"] = bareErrors,
            ["direct_cpu_ms_per_post"] = Round(bareCpuSeconds * 1000 / Math.Max(1, bare.OkIds), 3),
            ["insert_seconds"] = Round(insertSeconds, 3),
            ["payload_bytes"] = Encoding.UTF8.GetByteCount(payloads[0]),
        };
    }

    /// <summary>The floor: the same bodies and headers posted by one <c>HttpClient</c>, <paramref name="concurrency"/> at a time.</summary>
    private static async Task<(double Seconds, int Errors, double CpuSeconds)> BareLoopAsync(BenchRun run, string[] payloads, int concurrency)
    {
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = 256,
        }) { Timeout = TimeSpan.FromSeconds(15) };
        var errors = 0;
        async Task PostAsync(string hook, int i, string body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, run.Fakes.HookUrl(hook))
            {
                Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)),
            };
            request.Content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
            request.Headers.Add("webhook-id", $"evt_bare_{hook}_{i}");
            request.Headers.Add("webhook-timestamp", DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
            request.Headers.Add("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await response.Content.ReadAsByteArrayAsync();
            if (!response.IsSuccessStatusCode) Interlocked.Increment(ref errors);
        }

        await Parallel.ForEachAsync(Enumerable.Range(0, Math.Min(500, payloads.Length)), new ParallelOptions { MaxDegreeOfParallelism = concurrency },
            async (i, _) => await PostAsync("bare-warmup", i, payloads[i]));
        await run.Fakes.ConfigureHookAsync("bare");
        // The bench process does nothing else meanwhile, so its CPU time is the loop's (a few timer ticks aside).
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, payloads.Length), new ParallelOptions { MaxDegreeOfParallelism = concurrency },
            async (i, _) => await PostAsync("bare", i, payloads[i]));
        return (watch.Elapsed.TotalSeconds, errors, (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds);
    }

    /// <summary>A <c>message.reply</c> body as Hub serialises it (<c>{"type","timestamp","data"}</c>, snake_case reply object).</summary>
    private static string Payload(int i)
    {
        var now = DateTimeOffset.UtcNow;
        var body = new JsonObject
        {
            ["type"] = "message.reply",
            ["timestamp"] = now.ToString("yyyy-MM-ddTHH:mm:ss.fffK", CultureInfo.InvariantCulture),
            ["data"] = new JsonObject
            {
                ["conversation_id"] = $"conv_{Guid.CreateVersion7():N}",
                ["message_id"] = $"msg_{Guid.CreateVersion7():N}",
                ["reply_to"] = $"msg_{Guid.CreateVersion7():N}",
                ["create_time"] = now.ToUnixTimeSeconds(),
                ["from"] = "ai",
                ["output"] = new JsonArray(new JsonObject { ["content"] = new JsonObject { ["text"] = Fakes.FakeLlm.ReplyText } }),
                ["usage"] = new JsonObject
                {
                    ["tokens"] = new JsonObject { ["prompt_tokens"] = 42, ["completion_tokens"] = 18, ["total_tokens"] = 60 },
                    ["credits"] = new JsonObject { ["text_input_credits"] = 0.021, ["text_output_credits"] = 0.027, ["total_credits"] = 0.048 },
                },
                ["status"] = null,
                ["sequence"] = i + 2,
            },
        };
        return body.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    /// <summary>
    /// Points the bots at <paramref name="hookUrl"/> and writes the deliveries as <c>WebhookOutbox.EnqueueAsync</c> does
    /// (migration 0002's schema), in one transaction.
    /// </summary>
    private static void Insert(string database, IReadOnlyList<BotInfo> bots, string[] payloads, string hookUrl)
    {
        using var c = new SqliteConnection($"Data Source={database}");
        c.Open();
        using (var pragma = c.CreateCommand())
        {
            pragma.CommandText = "PRAGMA busy_timeout=10000;";
            pragma.ExecuteNonQuery();
        }
        using var tx = c.BeginTransaction();
        using (var point = c.CreateCommand())
        {
            point.Transaction = tx;
            point.CommandText = "UPDATE bots SET webhook_url = $url WHERE id = $id";
            var url = point.Parameters.Add("$url", SqliteType.Text);
            var botId = point.Parameters.Add("$id", SqliteType.Text);
            foreach (var b in bots)
            {
                url.Value = hookUrl;
                botId.Value = b.Id;
                point.ExecuteNonQuery();
            }
        }
        using var insert = c.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = """
            INSERT INTO deliveries (id, bot_id, event_type, conversation_id, message_id, payload, status, attempt_count,
                next_attempt_at, created_at, updated_at)
            VALUES ($id, $bot, 'message.reply', $conversation, $message, $payload, 'pending', 0, $now, $now, $now)
            """;
        var id = insert.Parameters.Add("$id", SqliteType.Text);
        var bot = insert.Parameters.Add("$bot", SqliteType.Text);
        var conversation = insert.Parameters.Add("$conversation", SqliteType.Text);
        var message = insert.Parameters.Add("$message", SqliteType.Text);
        var payload = insert.Parameters.Add("$payload", SqliteType.Text);
        var now = insert.Parameters.Add("$now", SqliteType.Integer);
        insert.Prepare();
        var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < payloads.Length; i++)
        {
            id.Value = $"evt_{Guid.CreateVersion7():N}";
            bot.Value = bots[i % bots.Count].Id;
            conversation.Value = $"conv_bench_{i}";
            message.Value = $"msg_bench_{i}";
            payload.Value = payloads[i];
            now.Value = at;
            insert.ExecuteNonQuery();
        }
        tx.Commit();
    }
}
