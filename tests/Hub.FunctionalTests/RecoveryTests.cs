using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

/// <summary>
/// Accepted means answered: a message accepted with 2xx gets exactly one AI reply, whatever stops in
/// between. Each test starts hubs on one database file, one after another, to simulate restarts.
/// </summary>
public sealed class RecoveryTests : IAsyncLifetime
{
    private readonly string _database = HubFixture.NewDatabasePath();
    private FakeOpenAiServer _llm = null!;

    public async Task InitializeAsync() => _llm = await FakeOpenAiServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _llm.DisposeAsync();
        HubFixture.DeleteDatabase(_database);
    }

    private HubFixture Hub(params (string Key, string Value)[] settings)
    {
        var all = LlmHubFixture.LlmSettings(_llm);
        foreach (var (key, value) in settings) all[key] = value;
        return HubFixture.With(all, _database);
    }

    private int LlmCallsAbout(string content) =>
        _llm.Requests.Count(r => r.Body["messages"]!.AsArray().Any(m => m!["content"]?.ToString().Contains(content) == true));

    private static async Task<(string Key, string ConversationId, string MessageId)> AcceptInWebhookModeAsync(HubFixture hub, string content)
    {
        var bot = await hub.CreateBotAsync(new { name = "Support", webhook = new { url = HubFixture.UnheardWebhookUrl } });
        using var client = hub.WithKey(bot.Str("api_key"));
        var conversationId = await client.CreateConversationAsync();
        var response = await client.SendMessageAsync(conversationId, content, mode: "webhook");
        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        return (bot.Str("api_key"), conversationId, (await response.JsonAsync()).Str("message_id"));
    }

    [Fact]
    public async Task Message_accepted_while_no_ai_worker_runs_is_answered_once_after_a_restart()
    {
        var apiOnly = Hub(("HUB_ROLES", "api"));
        var (key, conversationId, messageId) = await AcceptInWebhookModeAsync(apiOnly, "Where is order 6006?");
        using (var client = apiOnly.WithKey(key))
        {
            await Task.Delay(500);
            var waiting = Assert.Single(await client.AllMessagesAsync(conversationId));
            Assert.Equal("pending", waiting.Str("reply_status"));
        }
        await apiOnly.StopKeepingDatabaseAsync();
        Assert.Equal(0, LlmCallsAbout("order 6006"));

        var full = Hub();
        using (var client = full.WithKey(key))
        {
            var reply = await client.WaitForReplyAsync(conversationId, messageId);
            Assert.Equal("Your order ships today.", reply.Str("content"));
            var messages = await client.AllMessagesAsync(conversationId);
            Assert.Equal(2, messages.Count);
            Assert.Equal("answered", messages[0].Str("reply_status"));
        }
        await full.StopKeepingDatabaseAsync();

        // Another restart finds nothing left to do: no second answer.
        await using var again = Hub();
        using var check = again.WithKey(key);
        await Task.Delay(1000);
        Assert.Single(await check.AllMessagesAsync(conversationId), m => m.Str("from") == "ai");
        Assert.Equal(1, LlmCallsAbout("order 6006"));
    }

    [Fact]
    public async Task Two_hubs_starting_together_answer_a_waiting_message_once()
    {
        var apiOnly = Hub(("HUB_ROLES", "api"));
        var (key, conversationId, messageId) = await AcceptInWebhookModeAsync(apiOnly, "Where is order 7007?");
        await apiOnly.StopKeepingDatabaseAsync();
        _llm.FirstChunkDelay = TimeSpan.FromSeconds(1);

        var one = Hub();
        var two = Hub();
        try
        {
            using var a = one.WithKey(key);
            using var b = two.WithKey(key);
            await Task.WhenAll(a.GetAsync("/healthz"), b.GetAsync("/healthz"));

            await a.WaitForReplyAsync(conversationId, messageId);
            await Task.Delay(2000);
            Assert.Single(await b.AllMessagesAsync(conversationId), m => m.Str("from") == "ai");
        }
        finally
        {
            await one.StopKeepingDatabaseAsync();
            await two.StopKeepingDatabaseAsync();
        }
    }

    [Fact]
    public async Task Reply_interrupted_by_a_stop_is_produced_after_a_restart()
    {
        _llm.FirstChunkDelay = TimeSpan.FromMinutes(5); // the model never answers this hub
        var first = Hub(("shutdownTimeoutSeconds", "1")); // do not wait long for the hung reply when stopping
        var (key, conversationId, messageId) = await AcceptInWebhookModeAsync(first, "Where is order 8008?");
        await _llm.RequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
        await first.StopKeepingDatabaseAsync();
        _llm.FirstChunkDelay = TimeSpan.Zero;

        await using var second = Hub();
        using var client = second.WithKey(key);
        var reply = await client.WaitForReplyAsync(conversationId, messageId);

        Assert.Equal("Your order ships today.", reply.Str("content"));
        Assert.Single(await client.AllMessagesAsync(conversationId), m => m.Str("from") == "ai");
    }

    [Fact]
    public async Task A_worker_whose_lease_runs_out_does_not_cause_a_second_reply()
    {
        _llm.HoldReplies(); // the first worker is still waiting for the model when its lease runs out
        await using var hub = Hub(
            ("HUB_REPLY_LEASE_SECONDS", "1"),
            ("HUB_REPLY_REDRIVE_SECONDS", "1"),
            ("HUB_REDRIVE_SWEEP_SECONDS", "0.2"));
        var (key, conversationId, messageId) = await AcceptInWebhookModeAsync(hub, "Where is order 9009?");
        using var client = hub.WithKey(key);

        await Eventually.GetAsync(() => Task.FromResult(LlmCallsAbout("order 9009") >= 2 ? "" : null),
            "a second worker to take over the message after the lease ran out");
        _llm.ReleaseReplies();
        await client.WaitForReplyAsync(conversationId, messageId);
        await Eventually.GetAsync(() => Task.FromResult(_llm.InFlight == 0 ? "" : null), "every attempt to finish");
        await Task.Delay(300);

        var messages = await client.AllMessagesAsync(conversationId);
        Assert.Single(messages, m => m.Str("from") == "ai");
        Assert.Equal([1L, 2], messages.Select(m => m["sequence"]!.GetValue<long>()));
        Assert.Equal("answered", messages[0].Str("reply_status"));
    }
}
