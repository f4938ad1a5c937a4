using System.Net;
using System.Text.Json.Nodes;
using Hub.Bench.Infrastructure;
using Microsoft.Data.Sqlite;
using static Hub.Bench.Infrastructure.Stats;

namespace Hub.Bench.Scenarios;

/// <summary>
/// <c>webhook_e2e</c>: messages sent in webhook mode (bounded concurrency) until the receiver has every
/// signed <c>message.reply</c>; and <c>retry_storm</c>: the same with a receiver that fails half of all
/// tries, on a shortened retry schedule, counting what was lost and what arrived twice.
/// </summary>
public static class Webhooks
{
    public static Task<JsonObject> EndToEndAsync(BenchRun run, HubProcess hub, HubApi api) =>
        EndToEndAsync(run, [new HubRole("all", hub)], api, "e2e", run.Settings.WebhookMessages, run.Settings.WebhookDeadline);

    /// <summary>One process of a Hub that may be split by role; <see cref="EndToEndAsync(BenchRun, IReadOnlyList{HubRole}, HubApi, string, int, TimeSpan)"/> sums their CPU.</summary>
    public sealed record HubRole(string Role, HubProcess Process);

    /// <summary>
    /// The end-to-end measurement, on whatever Hub <paramref name="api"/> fronts: one process with every role, or
    /// several processes (<paramref name="processes"/>, all counted for CPU and memory). <paramref name="hook"/>
    /// names the receiver's hooks (the timed one, and <c>-warmup</c>).
    /// </summary>
    public static async Task<JsonObject> EndToEndAsync(BenchRun run, IReadOnlyList<HubRole> processes, HubApi api,
        string hook, int messages, TimeSpan deadline)
    {
        var settings = run.Settings;
        using var http = HubApi.NewClient();

        // Warm the webhook path (dispatcher, signing, the receiver) before timing it.
        var warmStartUnixMs = UnixMs();
        var warmHook = hook + "-warmup";
        var warm = await api.CreateBotAsync("bench-webhook-warmup", webhookUrl: run.Fakes.HookUrl(warmHook));
        var warmConversations = await api.CreateConversationsAsync(warm.ApiKey, 20);
        // Bounded in time, sending included: a Hub that is slow to warm up (three cold processes) must not stretch the run.
        var warmWindow = TimeSpan.FromSeconds(settings.Quick ? 10 : 40);
        var warmSent = await SendAsync(api, http, warm, warmConversations, settings.Quick ? 1_000 : 3_000, settings.WebhookConcurrency,
            warmStartUnixMs + warmWindow.TotalMilliseconds);
        await WaitUntilAsync(async () => (await run.Fakes.HookAsync(warmHook)).OkIds >= warmSent.Accepted.Count,
            Remaining(warmWindow, warmStartUnixMs), TimeSpan.FromMilliseconds(50));

        var warmSeconds = (UnixMs() - warmStartUnixMs) / 1000;

        var bot = await api.CreateBotAsync("bench-webhook", webhookUrl: run.Fakes.HookUrl(hook));
        await run.Fakes.ConfigureHookAsync(hook, secret: bot.Secret);
        var conversations = await api.CreateConversationsAsync(bot.ApiKey, Math.Min(messages, 200));

        var cpuBefore = processes.Select(p => p.Process.Process.CpuSeconds() ?? 0).ToArray();
        var startUnixMs = UnixMs();
        // Sending stops at the deadline too: a Hub that takes messages in slowly must not stretch the run.
        var sent = await SendAsync(api, http, bot, conversations, messages, settings.WebhookConcurrency, startUnixMs + deadline.TotalMilliseconds);
        var acceptSeconds = (UnixMs() - startUnixMs) / 1000;
        var done = await WaitUntilAsync(async () => (await run.Fakes.HookAsync(hook)).OkIds >= sent.Accepted.Count,
            Remaining(deadline, startUnixMs), TimeSpan.FromMilliseconds(20));
        var stats = await run.Fakes.HookAsync(hook);
        var cpuMs = processes.Select((p, i) => ((p.Process.Process.CpuSeconds() ?? 0) - cpuBefore[i]) * 1000).ToArray();
        var rssMb = processes.Select(p => p.Process.Process.RssMb() ?? double.NaN).ToArray();
        // Up to the last reply received: when the deadline passed first, the rate reached so far.
        var seconds = (stats.LastOkUnixMs - startUnixMs) / 1000;
        var received = Math.Max(1, stats.OkIds);

        var result = new JsonObject
        {
            ["messages"] = messages,
            ["seconds"] = Round(seconds, 3),
            ["msgs_per_s"] = Round(stats.OkIds / seconds, 1),
            ["accepted"] = sent.Accepted.Count,
            ["not_sent"] = sent.NotSent,
            ["received"] = stats.OkIds,
            ["completed"] = done && sent.NotSent == 0,
            ["accept_seconds"] = Round(acceptSeconds, 3),
            ["accepts_per_s"] = Round(sent.Accepted.Count / acceptSeconds, 1),
            ["concurrency"] = settings.WebhookConcurrency,
            ["conversations"] = conversations.Length,
            ["warmup_seconds"] = Round(warmSeconds, 3),
            ["warmup_messages"] = warmSent.Accepted.Count,
            ["bad_signatures"] = stats.BadSignatures,
            ["tries"] = stats.Tries,
            ["hub_cpu_ms_per_message"] = Round(cpuMs.Sum() / received, 3),
            ["hub_rss_mb"] = Round(rssMb.Sum(), 1),
        };
        if (processes.Count > 1)
        {
            result["hub_cpu_ms_per_message_by_role"] = ByRole(processes, i => Round(cpuMs[i] / received, 3));
            result["hub_rss_mb_by_role"] = ByRole(processes, i => Round(rssMb[i], 1));
        }
        if (sent.FirstError is not null) result["first_error"] = sent.FirstError;
        return result;
    }

    private static JsonObject ByRole(IReadOnlyList<HubRole> processes, Func<int, double> value)
    {
        var json = new JsonObject();
        for (var i = 0; i < processes.Count; i++) json[processes[i].Role] = value(i);
        return json;
    }

    public static async Task<JsonObject> RetryStormAsync(BenchRun run, HubProcess hub, HubApi api, string database)
    {
        var settings = run.Settings;
        const double failRate = 0.5;
        using var http = HubApi.NewClient();
        var bot = await api.CreateBotAsync("bench-storm", webhookUrl: run.Fakes.HookUrl("storm"));
        await run.Fakes.ConfigureHookAsync("storm", failRate, bot.Secret, parseReplyTo: true);
        var conversations = await api.CreateConversationsAsync(bot.ApiKey, Math.Min(settings.StormMessages, 100));

        var startUnixMs = UnixMs();
        var sent = await SendAsync(api, http, bot, conversations, settings.StormMessages, 32);
        var done = await WaitUntilAsync(async () => (await run.Fakes.HookAsync("storm")).OkReplyTos >= sent.Accepted.Count,
            Remaining(settings.StormDeadline, startUnixMs), TimeSpan.FromMilliseconds(50));
        var seconds = (UnixMs() - startUnixMs) / 1000;
        // Let anything that would arrive twice arrive: a few retry steps' worth.
        await Task.Delay(TimeSpan.FromSeconds(3));
        // Not yet delivered is not lost while Hub still holds it: its reply is still to come, or its delivery is still pending a retry.
        // Hub's store is read before the receiver: a try the receiver records is only then marked succeeded, so nothing falls between.
        var inFlight = StillInFlight(database, bot.Id);
        var stats = await run.Fakes.HookAsync("storm", detail: true);
        var undelivered = sent.Accepted.Where(id => !stats.ReplyTos.Contains(id)).ToList();
        var pending = undelivered.Count(inFlight.Contains);

        var result = new JsonObject
        {
            ["messages"] = settings.StormMessages,
            ["fail_rate"] = failRate,
            ["delivered"] = stats.OkReplyTos,
            ["lost"] = undelivered.Count - pending,
            ["undelivered_at_deadline"] = undelivered.Count,
            ["still_in_flight_at_deadline"] = pending,
            ["duplicates"] = stats.DuplicateIds + stats.DuplicateReplyTos,
            ["accepted"] = sent.Accepted.Count,
            ["completed"] = done,
            ["seconds"] = Round(seconds, 3),
            ["tries"] = stats.Tries,
            ["failed_tries"] = stats.FailedTries,
            ["duplicate_webhook_ids"] = stats.DuplicateIds,
            ["replies_under_two_ids"] = stats.DuplicateReplyTos,
            ["bad_signatures"] = stats.BadSignatures,
            ["schedule"] = settings.StormSchedule,
        };
        foreach (var (status, count) in DeliveryStatuses(database, bot.Id)) result["hub_deliveries_" + status] = count;
        if (sent.FirstError is not null) result["first_error"] = sent.FirstError;
        return result;
    }

    /// <summary>How Hub's own store sees the bot's deliveries (a read-only look at the SQLite file, WAL lets it share).</summary>
    private static Dictionary<string, long> DeliveryStatuses(string database, string botId)
    {
        using var c = new SqliteConnection($"Data Source={database};Mode=ReadOnly");
        c.Open();
        using (var pragma = c.CreateCommand())
        {
            pragma.CommandText = "PRAGMA busy_timeout=5000";
            pragma.ExecuteNonQuery();
        }
        using var command = c.CreateCommand();
        command.CommandText = "SELECT status, COUNT(*) FROM deliveries WHERE bot_id = $bot GROUP BY status";
        command.Parameters.AddWithValue("$bot", botId);
        using var reader = command.ExecuteReader();
        var counts = new Dictionary<string, long>();
        while (reader.Read()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    }

    /// <summary>User messages of the bot whose reply is not produced yet, or whose <c>message.reply</c> delivery is still pending.</summary>
    private static HashSet<string> StillInFlight(string database, string botId)
    {
        using var c = new SqliteConnection($"Data Source={database};Mode=ReadOnly");
        c.Open();
        using (var pragma = c.CreateCommand())
        {
            pragma.CommandText = "PRAGMA busy_timeout=5000";
            pragma.ExecuteNonQuery();
        }
        using var command = c.CreateCommand();
        command.CommandText = """
            SELECT id FROM messages WHERE bot_id = $bot AND sender = 'user' AND reply_state IN ('pending', 'working')
            UNION
            SELECT m.reply_to FROM deliveries d JOIN messages m ON m.id = d.message_id
            WHERE d.bot_id = $bot AND d.event_type = 'message.reply' AND d.status = 'pending'
            """;
        command.Parameters.AddWithValue("$bot", botId);
        using var reader = command.ExecuteReader();
        var ids = new HashSet<string>();
        while (reader.Read()) if (!reader.IsDBNull(0)) ids.Add(reader.GetString(0));
        return ids;
    }

    public sealed record Sent(List<string> Accepted, int Errors, string? FirstError, int NotSent);

    /// <summary>
    /// Sends <paramref name="count"/> webhook-mode messages, <paramref name="concurrency"/> at a time, round-robin over
    /// the conversations; none is sent after <paramref name="stopAtUnixMs"/> (they count as <see cref="Sent.NotSent"/>).
    /// </summary>
    public static async Task<Sent> SendAsync(HubApi api, HttpClient http, BotInfo bot, string[] conversations, int count, int concurrency,
        double stopAtUnixMs = double.PositiveInfinity)
    {
        var accepted = new List<string>(count);
        var errors = 0;
        var notSent = 0;
        string? firstError = null;
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (i, _) =>
        {
            if (UnixMs() >= stopAtUnixMs)
            {
                Interlocked.Increment(ref notSent);
                return;
            }
            try
            {
                using var request = api.MessageRequest(bot.ApiKey, conversations[i % conversations.Length], $"Where is my order #{i}?", "webhook");
                using var response = await http.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    var id = JsonNode.Parse(body)!["message_id"]!.GetValue<string>();
                    lock (accepted) accepted.Add(id);
                    return;
                }
                Interlocked.Increment(ref errors);
                Interlocked.CompareExchange(ref firstError, $"{(int)response.StatusCode}: {body[..Math.Min(300, body.Length)]}", null);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Interlocked.Increment(ref errors);
                Interlocked.CompareExchange(ref firstError, e.Message, null);
            }
        });
        return new Sent(accepted, errors, firstError, notSent);
    }

    /// <summary>What is left of a deadline that started (sending included) at <paramref name="startUnixMs"/>; at least a second.</summary>
    private static TimeSpan Remaining(TimeSpan deadline, double startUnixMs) =>
        TimeSpan.FromMilliseconds(Math.Max(1000, deadline.TotalMilliseconds - (UnixMs() - startUnixMs)));

    public static double UnixMs() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
}
