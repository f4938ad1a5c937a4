using System.Net;
using System.Text.RegularExpressions;
using Hub.FunctionalTests.Inbox;
using Hub.FunctionalTests.Infrastructure;
using Hub.FunctionalTests.Webhooks;
using Hub.TestSupport;

namespace Hub.FunctionalTests.Telemetry;

/// <summary>
/// Runs alone: a MeterListener is process-wide, and OpenTelemetry subscribes by meter name, so a hub's
/// <c>/metrics</c> would also count what other test hubs in this process did at the same time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsCollection
{
    public const string Name = "Metrics (alone)";
}

/// <summary><c>GET /metrics</c> (API.md, Observability): each series moves by exactly what was done.</summary>
[Collection(MetricsCollection.Name)]
public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_is_a_404_unless_HUB_METRICS_is_true()
    {
        await using var hub = new HubFixture();
        using var client = hub.CreateClient();

        var response = await client.GetAsync("/metrics");

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Each_series_moves_by_what_was_done_in_every_mode_with_a_failing_webhook_and_a_handoff()
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        var settings = InboxKit.Settings();
        settings["HUB_METRICS"] = "true";
        settings["HUB_LLM_BASE_URL"] = llm.BaseUrl;
        settings["HUB_LLM_MODEL"] = "gpt-test";
        // A retry about 2 s after a failed try, so the pending gauge can be seen at 1 before the delivery succeeds.
        settings["HUB_WEBHOOK_RETRY_SCHEDULE"] = "2s,2s";
        settings["HUB_WEBHOOK_TIMEOUT_SECONDS"] = "1";
        await using var hub = HubFixture.With(settings);
        using var anonymous = hub.CreateClient();
        using var webhookBot = await hub.CreateWebhookBotAsync(receiver.Url);
        var inboxBot = await hub.CreateInboxBotAsync();
        var agent = await hub.CreateAgentAsync([inboxBot.Id]);
        var before = await ReadMetricsAsync(anonymous);

        // Blocking, answered by the model.
        var conversation = await inboxBot.NewConversationAsync();
        using (var blocking = await inboxBot.Client.SendMessageAsync(conversation, InboxKit.KnownQuestion))
            await blocking.AssertStatusAsync(HttpStatusCode.OK);

        // Streaming: the stream counts as open while the model thinks, and closes with the reply.
        llm.HoldReplies();
        using (var streaming = await inboxBot.Client.SendMessageAsync(conversation, InboxKit.KnownQuestion, mode: "streaming"))
        {
            await streaming.AssertStatusAsync(HttpStatusCode.OK);
            await UntilAsync(anonymous, s => s.Total("hub_sse_streams_open") == 1, "one SSE stream open");
            llm.ReleaseReplies();
            Assert.Contains("event: message_end", await streaming.Content.ReadAsStringAsync());
        }
        await UntilAsync(anonymous, s => s.Total("hub_sse_streams_open") == 0, "no SSE stream open");

        // Webhook: the first try fails (500), the retry succeeds; the delivery is pending in between.
        receiver.FailNext(1);
        var webhookConversation = await webhookBot.NewConversationAsync();
        await webhookBot.SendWebhookMessageAsync(webhookConversation);
        await receiver.WaitForAsync(1);
        await UntilAsync(anonymous, s => s.Total("hub_deliveries_pending") == 1, "one pending delivery");
        await receiver.WaitForAsync(2);
        await UntilAsync(anonymous, s => s.Total("hub_deliveries_pending") == 0 && s.Total("hub_webhook_attempts_total", ("outcome", "succeeded"))
            - before.Total("hub_webhook_attempts_total", ("outcome", "succeeded")) == 1, "the retry stored as delivered");

        // Webhook: the first try gets no answer within HUB_WEBHOOK_TIMEOUT_SECONDS, the retry succeeds.
        receiver.Enqueue(new ScriptedResponse(200, Delay: TimeSpan.FromSeconds(3)));
        await webhookBot.SendWebhookMessageAsync(webhookConversation);
        await receiver.WaitForAsync(4);

        // A handoff keyword: the bot's turn is handed off to people; an agent answers.
        var handedOff = await inboxBot.NewConversationAsync();
        using (var keyword = await inboxBot.Client.SendMessageAsync(handedOff, "I want a human please"))
            Assert.Equal("handed_off", (await keyword.JsonAsync()).Str("status"));
        await (await agent.Client.InboxActAsync(handedOff, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.InboxActAsync(handedOff, "reply", new { text = "Hello, I can help." })).AssertStatusAsync(HttpStatusCode.OK);

        // The model refuses (400): the turn fails.
        llm.FailNext(1, 400);
        using (var failed = await inboxBot.Client.SendMessageAsync(conversation, InboxKit.KnownQuestion))
            Assert.True((int)failed.StatusCode >= 500, $"expected a failed reply, got {(int)failed.StatusCode}");

        // ASP.NET Core counts a request once it has ended on the server, which may be just after its client saw the response.
        const string MessagesRoute = "/v1/conversations/{id}/messages";
        var after = await UntilAsync(anonymous, s =>
            s.Total("hub_webhook_delivery_lag_seconds_count") - before.Total("hub_webhook_delivery_lag_seconds_count") == 2
            && s.Total("http_server_request_duration_seconds_count", ("http_route", MessagesRoute))
                - before.Total("http_server_request_duration_seconds_count", ("http_route", MessagesRoute)) == 6,
            "both webhook deliveries and the six message requests recorded");

        double Delta(string name, params (string, string)[] labels) => after.Total(name, labels) - before.Total(name, labels);
        Assert.Equal(3, Delta("hub_messages_accepted_total", ("mode", "blocking")));
        Assert.Equal(1, Delta("hub_messages_accepted_total", ("mode", "streaming")));
        Assert.Equal(2, Delta("hub_messages_accepted_total", ("mode", "webhook")));
        Assert.Equal(4, Delta("hub_replies_total", ("from", "ai"), ("outcome", "answered")));
        Assert.Equal(1, Delta("hub_replies_total", ("from", "ai"), ("outcome", "handed_off")));
        Assert.Equal(1, Delta("hub_replies_total", ("from", "ai"), ("outcome", "failed")));
        Assert.Equal(1, Delta("hub_replies_total", ("from", "human"), ("outcome", "answered")));
        Assert.Equal(5, Delta("hub_llm_request_duration_seconds_count", ("provider", "openai"), ("model", "gpt-test")));
        Assert.True(Delta("hub_llm_request_duration_seconds_sum", ("provider", "openai"), ("model", "gpt-test")) > 0);
        Assert.Equal(4 * llm.PromptTokens, Delta("hub_llm_tokens_total", ("direction", "prompt")));
        Assert.Equal(4 * llm.CompletionTokens, Delta("hub_llm_tokens_total", ("direction", "completion")));
        Assert.Equal(1, Delta("hub_webhook_attempts_total", ("outcome", "failed")));
        Assert.Equal(1, Delta("hub_webhook_attempts_total", ("outcome", "timeout")));
        Assert.Equal(2, Delta("hub_webhook_attempts_total", ("outcome", "succeeded")));
        Assert.Equal(2, Delta("hub_webhook_delivery_lag_seconds_count"));
        Assert.Equal(0, after.Total("hub_deliveries_pending"));
        Assert.Equal(0, after.Total("hub_sse_streams_open"));

        // Low-cardinality labels only: no ID of a bot, conversation, message, delivery or agent in any series.
        var ids = Regex.Matches(after.Text, @"\b(bot|conv|msg|evt|agt|key)_[0-9a-f]{8,}").Select(m => m.Value).ToList();
        Assert.True(ids.Count == 0, $"IDs in /metrics: {string.Join(", ", ids.Distinct().Take(5))}");
    }

    private static async Task<PrometheusText> ReadMetricsAsync(HttpClient client)
    {
        var response = await client.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET /metrics → {(int)response.StatusCode}: {text}");
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return PrometheusText.Parse(text);
    }

    /// <summary>Scrapes until <paramref name="condition"/> holds (a gauge is counted at most once a second).</summary>
    private static async Task<PrometheusText> UntilAsync(HttpClient client, Func<PrometheusText, bool> condition, string waitingFor)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var scrape = await ReadMetricsAsync(client);
            if (condition(scrape)) return scrape;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Gave up waiting for {waitingFor}; last scrape:\n{string.Join('\n', scrape.Text.Split('\n').Where(l => l.StartsWith("hub_")))}");
            await Task.Delay(100);
        }
    }
}
