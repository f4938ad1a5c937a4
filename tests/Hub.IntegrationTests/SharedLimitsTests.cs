using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Hub.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Hub.IntegrationTests;

/// <summary>
/// Two API processes sharing Redis, with a tight limit (1 request a second per key, bursts of 3) and caches kept for
/// 10 minutes, so that only Redis's eviction messages can make a change visible to the other process in time.
/// </summary>
public sealed class SharedLimitsFixture : IAsyncLifetime
{
    public const int PerSecond = 1;
    public const int Burst = 3;

    public HubCluster Cluster { get; private set; } = null!;
    public HubProcess ApiA { get; private set; } = null!;
    public HubProcess ApiB { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await HubCluster.CreateAsync(withRedis: true, new Dictionary<string, string>
        {
            ["HUB_RATE_LIMIT_PER_SECOND"] = PerSecond.ToString(),
            ["HUB_RATE_LIMIT_BURST"] = Burst.ToString(),
            ["HUB_CACHE_SECONDS"] = "600",
        });
        var processes = await Cluster.StartAllAsync(("api-a", "api"), ("api-b", "api"));
        (ApiA, ApiB) = (processes[0], processes[1]);
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null) await Cluster.DisposeAsync();
    }
}

/// <summary>Rate limits and idempotency keys hold across API processes when Redis is configured.</summary>
public sealed class SharedLimitsTests(SharedLimitsFixture fixture, ITestOutputHelper output) : IClassFixture<SharedLimitsFixture>
{
    [Fact]
    public async Task A_keys_rate_limit_holds_across_api_processes()
    {
        var adminA = fixture.Cluster.Admin(fixture.ApiA);
        var (_, key) = await adminA.CreateBotAsync();
        await fixture.Cluster.Admin(fixture.ApiB).GetOkAsync("/v1/bots?limit=1"); // both processes have served a limited request
        var clients = new[] { new HubClient(fixture.ApiA, key), new HubClient(fixture.ApiB, key) };

        // Alternate between the processes until one refuses. With a bucket per process, 2 × burst would pass.
        var seen = new List<(string Process, int Status)>();
        var clock = Stopwatch.StartNew();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 4 * SharedLimitsFixture.Burst && refused is null; i++)
        {
            var client = clients[i % 2];
            var response = await client.GetAsync("/v1/conversations?limit=1");
            seen.Add((client.Process.Name, (int)response.StatusCode));
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused = response;
            else response.Dispose();
        }
        var elapsed = clock.Elapsed;
        output.WriteLine($"{string.Join(", ", seen.Select(s => $"{s.Process}:{s.Status}"))} in {elapsed.TotalMilliseconds:0} ms");

        Assert.NotNull(refused);
        using (refused)
        {
            var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!.AsObject();
            Assert.Equal("rate_limited", problem["code"]!.GetValue<string>());
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "429 carries Retry-After");
        }
        var passed = seen.Count(s => s.Status == 200);
        Assert.All(seen.SkipLast(1), s => Assert.Equal(200, s.Status));
        Assert.True(passed >= SharedLimitsFixture.Burst, $"the burst passes: {passed}");
        // At most the burst plus what refilled meanwhile; in the usual quick run exactly 3 pass and the 4th is refused.
        var refill = (int)Math.Ceiling(elapsed.TotalSeconds * SharedLimitsFixture.PerSecond);
        Assert.True(passed <= SharedLimitsFixture.Burst + refill,
            $"{passed} requests passed in {elapsed.TotalSeconds:0.00} s: the processes do not share one bucket");
        Assert.Equal(2, seen.Where(s => s.Status == 200).Select(s => s.Process).Distinct().Count());
    }

    [Fact]
    public async Task An_idempotency_key_sent_to_both_api_processes_stores_one_message()
    {
        var (_, key) = await fixture.Cluster.Admin(fixture.ApiA).CreateBotAsync(webhookUrl: fixture.Cluster.Receiver.Url);
        var onA = new HubClient(fixture.ApiA, key);
        var onB = new HubClient(fixture.ApiB, key);
        var conversation = await onA.CreateConversationAsync("u-idem");

        // The same request with the same key, at the same moment, to both processes.
        var both = await Task.WhenAll(
            SendAsync(onA, conversation, "Where is my order?", "order-42"),
            SendAsync(onB, conversation, "Where is my order?", "order-42"));
        Assert.All(both, r => Assert.Equal(HttpStatusCode.Accepted, r.Status));
        Assert.Equal(both[0].MessageId, both[1].MessageId);

        // Again later, to the other process: still the same message. A different request with that key: 409.
        var again = await SendAsync(onB, conversation, "Where is my order?", "order-42");
        Assert.Equal(both[0].MessageId, again.MessageId);
        var reused = await SendAsync(onA, conversation, "Something else", "order-42");
        Assert.Equal(HttpStatusCode.Conflict, reused.Status);

        var messages = await onB.MessagesAsync(conversation);
        var stored = Assert.Single(messages, m => m["from"]!.GetValue<string>() == "user");
        Assert.Equal(both[0].MessageId, stored["message_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_key_deleted_through_one_api_process_is_refused_at_once_by_the_other()
    {
        var admin = fixture.Cluster.Admin(fixture.ApiA);
        var (botId, _) = await admin.CreateBotAsync();
        var created = await admin.PostOkAsync($"/v1/bots/{botId}/keys", new JsonObject());
        var onB = new HubClient(fixture.ApiB, created["api_key"]!.GetValue<string>());
        using (var before = await onB.GetAsync("/v1/conversations?limit=1")) Assert.Equal(HttpStatusCode.OK, before.StatusCode); // B caches the key

        using (var deleted = await PastTheLimitAsync(() => admin.DeleteAsync($"/v1/bots/{botId}/keys/{created["key_id"]!.GetValue<string>()}")))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);

        // B hears of the deletion over Redis; without that it would accept the key for HUB_CACHE_SECONDS (10 minutes).
        var clock = Stopwatch.StartNew();
        var statuses = new List<int>();
        while (clock.Elapsed < TimeSpan.FromSeconds(5) && !statuses.Contains(401))
        {
            using var response = await onB.GetAsync("/v1/conversations?limit=1");
            statuses.Add((int)response.StatusCode);
            if (response.StatusCode != HttpStatusCode.Unauthorized) await Task.Delay(500);
        }
        output.WriteLine($"{string.Join(", ", statuses)} in {clock.ElapsedMilliseconds} ms");
        Assert.Contains(401, statuses);
    }

    [Fact]
    public async Task Every_redis_key_and_channel_hub_uses_starts_with_the_prefix()
    {
        var prefix = fixture.Cluster.RedisPrefix;
        var (_, key) = await fixture.Cluster.Admin(fixture.ApiA).CreateBotAsync();
        var client = new HubClient(fixture.ApiA, key);
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(fixture.Cluster.Redis!);
        var server = redis.GetServers().Single();
        var database = redis.GetDatabase().Database;

        // A bucket lives in Redis for as long as it takes to refill (3 s here): look right after a request.
        List<string> keys = [];
        for (var attempt = 0; attempt < 5 && !keys.Any(k => k.Contains("ratelimit:")); attempt++)
        {
            using (await client.GetAsync("/v1/conversations?limit=1")) { }
            keys = server.Keys(database, pattern: "*", pageSize: 1000).Select(k => (string)k!).ToList();
        }
        var channels = (await server.SubscriptionChannelsAsync(StackExchange.Redis.RedisChannel.Pattern(prefix + "*"))).Select(c => c.ToString()).ToList();
        output.WriteLine($"keys: {string.Join(", ", keys)}\nchannels: {string.Join(", ", channels)}");

        Assert.Contains(keys, k => k.StartsWith(prefix + "ratelimit:", StringComparison.Ordinal));
        Assert.DoesNotContain(keys, k => k.StartsWith("rl:", StringComparison.Ordinal)); // the library's own names, unprefixed
        Assert.Contains(prefix + "replies", channels);
        Assert.Contains(prefix + "cache:evict", channels);
        Assert.Contains(channels, c => c.StartsWith(prefix + "Hub.Api.Inbox.InboxHub:", StringComparison.Ordinal)); // the SignalR backplane
    }

    private static async Task<HttpResponseMessage> PastTheLimitAsync(Func<Task<HttpResponseMessage>> send)
    {
        while (true)
        {
            var response = await send();
            if (response.StatusCode != HttpStatusCode.TooManyRequests) return response;
            await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
            response.Dispose();
        }
    }

    /// <summary>Sends a webhook-mode message, waiting out 429s (this fixture's limit is tight on purpose).</summary>
    private static async Task<(HttpStatusCode Status, string? MessageId)> SendAsync(HubClient client, string conversation, string content, string key)
    {
        while (true)
        {
            using var response = await client.SendMessageAsync(conversation, content, "webhook", key);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
                continue;
            }
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
            return (response.StatusCode, body["message_id"]?.GetValue<string>());
        }
    }
}
