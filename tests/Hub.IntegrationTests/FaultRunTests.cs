using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Hub.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Hub.IntegrationTests;

/// <summary>
/// "An accepted message is never lost, and each gets exactly one AI reply": a few hundred webhook-mode messages
/// over several conversations go to two API processes while an AI worker is killed mid-stream, RabbitMQ is
/// restarted, the only dispatcher is killed mid-delivery and an API process is killed right after accepting.
/// Each kill is a SIGKILL and each killed part is replaced. In the end every user message in the store has exactly
/// one AI reply and the receiver got every reply (one reply message_id per user message; the same webhook-id
/// twice is allowed, since receivers de-duplicate by it, and is reported).
/// </summary>
public sealed class FaultRunTests(ITestOutputHelper output)
{
    private const int Conversations = 10;
    private const int Messages = 300;
    private const int Senders = 6;

    /// <summary>Short leases and re-drive times so that what the kills leave behind is picked up within seconds.</summary>
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["HUB_REPLY_REDRIVE_SECONDS"] = "4",
        ["HUB_REPLY_LEASE_SECONDS"] = "8",
        ["HUB_REDRIVE_SWEEP_SECONDS"] = "1",
        ["HUB_AI_CONCURRENCY"] = "16",
        ["HUB_WEBHOOK_TIMEOUT_SECONDS"] = "2", // a killed dispatcher's claim frees after 2 × 2 + 5 = 9 s
        ["HUB_WEBHOOK_RETRY_SCHEDULE"] = "500ms,1s,2s,3s,5s,5s,5s,5s,5s,5s",
        ["HUB_WEBHOOK_ENDPOINT_CONCURRENCY"] = "16",
        ["HUB_RATE_LIMIT_PER_SECOND"] = "1000",
        ["HUB_RATE_LIMIT_BURST"] = "2000",
    };

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private void Note(string line) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:0.0} s {DateTime.UtcNow:HH:mm:ss.fff}] {line}");

    [Fact]
    public async Task Every_accepted_message_is_answered_and_delivered_once_through_kills_and_a_broker_restart()
    {
        await using var cluster = await HubCluster.CreateAsync(withRedis: true, Settings);
        cluster.Receiver.Delay = TimeSpan.FromMilliseconds(150); // deliveries take a moment, so one can be caught in flight
        var started = await cluster.StartAllAsync(
            ("api-a", "api"), ("api-b", "api"), ("worker-1", "ai-worker"), ("worker-2", "ai-worker"), ("dispatcher-1", "dispatcher"));
        var (apiA, apiB, worker1, dispatcher1) = (started[0], started[1], started[2], started[4]);
        Note($"started {string.Join(", ", started.Select(p => p.ToString()))}");

        var (botId, key) = await cluster.Admin(apiA).CreateBotAsync(webhookUrl: cluster.Receiver.Url);
        var clients = new Dictionary<HubProcess, HubClient> { [apiA] = new(apiA, key), [apiB] = new(apiB, key) };
        var conversations = new List<string>();
        for (var i = 0; i < Conversations; i++) conversations.Add(await clients[apiA].CreateConversationAsync($"fault-user-{i}"));

        var load = new Load(clients, conversations, Note);
        var brokerTouched = false;
        try
        {
            var sending = load.RunAsync();
            var chaos = ChaosAsync(cluster, load, apiA, worker1, dispatcher1, () => brokerTouched = true);
            try
            {
                await chaos;
            }
            finally
            {
                if (!chaos.IsCompletedSuccessfully) load.Stop(); // a fault step failed: the run is over
                load.AllowUpTo(Messages);
            }
            await sending;
        }
        finally
        {
            if (brokerTouched) await TestServices.EnsureRabbitMqRunningAsync();
        }
        Note($"load done: {load.Accepted.Count} accepted of {Messages}; failed tries: {load.FailureSummary()}");
        Assert.Equal(Messages, load.Accepted.Count);

        // The end state: wait (generously) until every user message is answered and every reply delivered.
        var reader = clients[apiB];
        var admin = cluster.Admin(apiB);
        State state;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            state = await State.ReadAsync(reader, admin, botId, conversations, cluster.Receiver);
            if (state.Settled || DateTime.UtcNow > deadline) break;
            await Task.Delay(1000);
        }
        Note($"end state read: {state.UserMessages.Count} user messages, {state.Unanswered.Count} unanswered, {state.Undelivered.Count} undelivered, "
             + $"{state.PendingDeliveries} deliveries pending");

        var deliveries = state.ReplyEvents;
        var duplicateIds = deliveries.GroupBy(d => d.WebhookId).Where(g => g.Count() > 1).ToList();
        Note($"FAULT RUN: accepted={load.Accepted.Count} (distinct message ids {load.Accepted.Values.Distinct().Count()}), "
             + $"user messages stored={state.UserMessages.Count}, AI replies stored={state.Replies.Count}, "
             + $"webhook POSTs received={deliveries.Count}, distinct webhook-ids={deliveries.Select(d => d.WebhookId).Distinct().Count()}, "
             + $"webhook-ids received more than once={duplicateIds.Count} ({duplicateIds.Sum(g => g.Count() - 1)} extra POSTs), "
             + $"LLM streams started={cluster.Llm.Started} completed={cluster.Llm.Completed} cut off={cluster.Llm.Aborted}");
        foreach (var group in duplicateIds.Take(10))
            Note($"  duplicate webhook-id {group.Key} ×{group.Count()} at {string.Join(", ", group.Select(d => d.ReceivedAt.ToString("HH:mm:ss.fff")))}");
        var diagnosis = $"\nunanswered: {string.Join(", ", state.Unanswered.Take(10))}\nundelivered: {string.Join(", ", state.Undelivered.Take(10))}\n{cluster.LogTails(40)}";

        // No accepted message is lost.
        var stored = state.UserMessages.Select(m => m["message_id"]!.GetValue<string>()).ToHashSet();
        Assert.True(load.Accepted.Values.All(stored.Contains), "every accepted message is in the store" + diagnosis);
        Assert.True(state.UserMessages.Count >= Messages, $"{state.UserMessages.Count} user messages stored" + diagnosis);

        // Exactly one AI reply per user message, in the store and at the receiver.
        Assert.True(state.Unanswered.Count == 0, $"{state.Unanswered.Count} user messages without a reply" + diagnosis);
        foreach (var user in state.UserMessages)
        {
            var id = user["message_id"]!.GetValue<string>();
            var replies = state.Replies.Where(r => r["reply_to"]?.GetValue<string>() == id).ToList();
            Assert.True(replies.Count == 1, $"{id} has {replies.Count} AI replies in the store" + diagnosis);
            var delivered = deliveries.Where(d => d.Data["reply_to"]?.GetValue<string>() == id).ToList();
            var deliveredReplyIds = delivered.Select(d => d.Data["message_id"]!.GetValue<string>()).Distinct().ToList();
            Assert.True(deliveredReplyIds.Count == 1, $"{id}: the receiver got {deliveredReplyIds.Count} different replies" + diagnosis);
            Assert.Equal(replies[0]["message_id"]!.GetValue<string>(), deliveredReplyIds[0]);
            // One event per reply (repeats of it share its webhook-id).
            Assert.Single(delivered.Select(d => d.WebhookId).Distinct());
        }
        Assert.All(deliveries, d => Assert.Contains(d.Data["reply_to"]!.GetValue<string>(), stored));

        // And the hub agrees: every delivery has succeeded (its last try recorded), none is pending or failed.
        foreach (var status in new[] { "pending", "failed" })
        {
            var page = await admin.GetOkAsync($"/v1/deliveries?status={status}&bot_id={botId}");
            Assert.True(page["data"]!.AsArray().Count == 0, $"deliveries still {status}: {page.ToJsonString()}");
        }
        Note("every accepted message answered once and delivered");
    }

    /// <summary>The faults, in order, each while the load is running.</summary>
    private async Task ChaosAsync(HubCluster cluster, Load load, HubProcess apiA, HubProcess worker1, HubProcess dispatcher1, Action touchingBroker)
    {
        // 1. kill -9 an AI worker while it is streaming replies; start a replacement.
        load.AllowUpTo(70);
        await load.WaitForAcceptedAsync(40);
        var workerKey = HubCluster.LlmKeyOf(worker1.Name);
        var streamingCaught = await WaitUntilAsync(() => cluster.Llm.InFlight(workerKey) > 0, TimeSpan.FromSeconds(30));
        var streaming = cluster.Llm.InFlight(workerKey);
        worker1.Kill();
        Assert.True(streamingCaught, "worker-1 was streaming a reply when it was killed");
        Note($"killed worker-1 (SIGKILL) with {streaming} streams in flight ({load.Accepted.Count} accepted so far)");
        var replacementWorker = cluster.StartAsync("worker-3", "ai-worker");

        // 2. Restart RabbitMQ under load.
        load.AllowUpTo(130);
        await load.WaitForAcceptedAsync(100);
        touchingBroker();
        Note($"rabbitmqctl stop_app ({load.Accepted.Count} accepted so far)");
        await TestServices.StopRabbitMqAsync();
        await Task.Delay(TimeSpan.FromSeconds(3));
        Note("rabbitmqctl start_app");
        await TestServices.StartRabbitMqAsync();
        Note("RabbitMQ is back");
        Note($"worker-3 ready: {(await replacementWorker)}");

        // 3. kill -9 the only dispatcher while a delivery is in flight at the receiver; start a replacement.
        load.AllowUpTo(190);
        await load.WaitForAcceptedAsync(160);
        var deliveryCaught = await WaitUntilAsync(() => cluster.Receiver.InFlight > 0, TimeSpan.FromSeconds(30));
        var inFlight = cluster.Receiver.InFlight;
        dispatcher1.Kill();
        Assert.True(deliveryCaught, "dispatcher-1 had a delivery in flight when it was killed");
        Note($"killed dispatcher-1 (SIGKILL) with {inFlight} deliveries in flight ({load.Accepted.Count} accepted so far)");
        var replacementDispatcher = cluster.StartAsync("dispatcher-2", "dispatcher");

        // 4. kill -9 API process A right after it accepted a message (the load does the kill); restart it.
        load.AllowUpTo(250);
        await load.WaitForAcceptedAsync(220);
        var othersInFlight = await load.KillAfterNextAcceptance(apiA).WaitAsync(TimeSpan.FromSeconds(60));
        Note($"killed api-a (SIGKILL) right after it accepted a message, with {othersInFlight} more requests to it in flight ({load.Accepted.Count} accepted so far)");
        load.AllowUpTo(Messages);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await apiA.StartAgainAsync();
        Note("api-a restarted on the same port");
        Note($"dispatcher-2 ready: {(await replacementDispatcher)}");
    }

    private static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(5);
        }
        return true;
    }

    /// <summary>
    /// The senders: <see cref="Messages"/> webhook-mode messages, each with its own Idempotency-Key, spread over the
    /// conversations and the API processes that are up. A try that fails (a killed process, a 5xx) is sent again
    /// with the same key to a process that is up, so a message stored by a process that died before answering is
    /// not stored twice. Every 2xx counts as accepted. The chaos moves <see cref="AllowUpTo"/> along, so the load
    /// never runs out before a fault has happened under it.
    /// </summary>
    private sealed class Load(Dictionary<HubProcess, HubClient> clients, List<string> conversations, Action<string> note)
    {
        private readonly ConcurrentDictionary<string, int> _failures = new();
        private readonly ConcurrentDictionary<HubProcess, int> _inFlight = new();
        private int _next = -1;
        private int _turn;
        private int _allowed;
        private volatile bool _stopped;
        private HubProcess? _killTarget;
        private TaskCompletionSource<int>? _killed;

        public ConcurrentDictionary<int, string> Accepted { get; } = new();

        public int InFlightOn(HubProcess process) => _inFlight.GetValueOrDefault(process);

        public string FailureSummary() => _failures.IsEmpty ? "none" : string.Join(", ", _failures.Select(f => $"{f.Key} ×{f.Value}"));

        public Task RunAsync() => Task.WhenAll(Enumerable.Range(0, Senders).Select(_ => Task.Run(SendLoopAsync)));

        public async Task WaitForAcceptedAsync(int count)
        {
            while (Accepted.Count < count) await Task.Delay(10);
        }

        public void Stop() => _stopped = true;

        /// <summary>Messages with a lower index may be sent; the senders wait before the others.</summary>
        public void AllowUpTo(int count) => Volatile.Write(ref _allowed, Math.Max(Volatile.Read(ref _allowed), count));

        /// <summary>The next 2xx from <paramref name="process"/> is followed at once by its kill -9; completes with how many
        /// other requests to it were in flight then.</summary>
        public Task<int> KillAfterNextAcceptance(HubProcess process)
        {
            _killed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _killTarget, process);
            return _killed.Task;
        }

        private async Task SendLoopAsync()
        {
            int i;
            while ((i = Interlocked.Increment(ref _next)) < Messages && !_stopped)
            {
                while (i >= Volatile.Read(ref _allowed)) await Task.Delay(20);
                var conversation = conversations[i % conversations.Count];
                for (var attempt = 1; !_stopped; attempt++)
                {
                    var target = await PickAsync();
                    if (await TryAsync(target, conversation, i)) break;
                    if (attempt == 60) throw new InvalidOperationException($"message {i} was never accepted: {FailureSummary()}");
                    await Task.Delay(250);
                }
                await Task.Delay(350); // ~15 messages a second over all senders: the load outlasts the faults
            }
        }

        private async Task<HubProcess> PickAsync()
        {
            while (true)
            {
                var up = clients.Keys.Where(p => p.IsUp).ToList();
                if (up.Count > 0) return up[Interlocked.Increment(ref _turn) % up.Count];
                await Task.Delay(50);
            }
        }

        private async Task<bool> TryAsync(HubProcess target, string conversation, int i)
        {
            _inFlight.AddOrUpdate(target, 1, (_, n) => n + 1);
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                using var response = await clients[target].SendMessageAsync(conversation, $"message {i}", "webhook", $"fault-{i}", ct: timeout.Token);
                if (!response.IsSuccessStatusCode)
                {
                    _failures.AddOrUpdate($"{(int)response.StatusCode}", 1, (_, n) => n + 1);
                    if ((int)response.StatusCode >= 500) note($"{target.Name} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    return false;
                }
                var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
                Accepted[i] = body["message_id"]!.GetValue<string>();
                if (Volatile.Read(ref _killTarget) == target && Interlocked.CompareExchange(ref _killTarget, null, target) == target)
                {
                    var others = InFlightOn(target) - 1;
                    target.Kill();
                    _killed!.TrySetResult(others);
                }
                return true;
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
            {
                _failures.AddOrUpdate(e.GetType().Name, 1, (_, n) => n + 1);
                return false;
            }
            finally
            {
                _inFlight.AddOrUpdate(target, 0, (_, n) => n - 1);
            }
        }
    }

    /// <summary>What the store (read through the API) and the receiver hold.</summary>
    private sealed record State(List<JsonObject> UserMessages, List<JsonObject> Replies, List<ReceivedWebhook> ReplyEvents,
        List<string> Unanswered, List<string> Undelivered, int PendingDeliveries)
    {
        /// <summary>Answered, received, and every delivery's outcome recorded (the receiver counts a POST when it
        /// arrives, the dispatcher records it once answered).</summary>
        public bool Settled => Unanswered.Count == 0 && Undelivered.Count == 0 && PendingDeliveries == 0;

        public static async Task<State> ReadAsync(HubClient reader, HubClient admin, string botId, List<string> conversations,
            WebhookReceiver receiver)
        {
            var messages = new List<JsonObject>();
            foreach (var conversation in conversations) messages.AddRange(await reader.MessagesAsync(conversation));
            var users = messages.Where(m => m["from"]!.GetValue<string>() == "user").ToList();
            var replies = messages.Where(m => m["from"]!.GetValue<string>() == "ai").ToList();
            var answered = replies.Select(r => r["reply_to"]!.GetValue<string>()).ToHashSet();
            var events = receiver.Received.Where(r => r.Type == "message.reply").ToList();
            var delivered = events.Select(e => e.Data["message_id"]!.GetValue<string>()).ToHashSet();
            var pending = (await admin.GetOkAsync($"/v1/deliveries?status=pending&bot_id={botId}"))["data"]!.AsArray().Count;
            return new State(users, replies, events,
                users.Select(u => u["message_id"]!.GetValue<string>()).Where(id => !answered.Contains(id)).ToList(),
                replies.Select(r => r["message_id"]!.GetValue<string>()).Where(id => !delivered.Contains(id)).ToList(), pending);
        }
    }
}
