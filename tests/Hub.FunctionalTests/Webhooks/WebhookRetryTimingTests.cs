using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Webhooks;

/// <summary>
/// Retry-After and the try's timeout (1 s here), on a hub whose steps are 600 ms: jittered waits would be 480–720 ms, so a wait of a whole
/// second can only come from the receiver's header (clamped to 1×–2× the step). Waits are read from the
/// stored due time (lower bounds tight, upper bounds loose: nothing here depends on the machine's speed).
/// </summary>
public sealed class WebhookRetryTimingTests : IAsyncLifetime
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(600);
    /// <summary>Room between the end of a try and the decision on a busy machine; far below the hour asked for.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(5);
    private readonly HubFixture _hub = WebhookHub.Start("600ms,600ms", new Dictionary<string, string?> { ["HUB_WEBHOOK_TIMEOUT_SECONDS"] = "1" });

    [Fact]
    public async Task Retry_after_is_honoured_within_twice_the_step()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailNext(1, 503, retryAfter: "1");
        receiver.FailNext(1, 429, retryAfter: "3600");
        using var bot = await _hub.CreateWebhookBotAsync(receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        await bot.SendWebhookMessageAsync(conversationId);

        // After the first try (Retry-After: 1 s, within 1×–2× the step) the next one is due 1 s later.
        var first = (await receiver.WaitForAsync(1))[0];
        var afterFirst = await bot.Client.WaitForDeliveryAsync(first.Id, d => d["attempt_count"]!.GetValue<int>() == 1, "the first try to be recorded");
        Assert.InRange(ScheduledWait(afterFirst), TimeSpan.FromMilliseconds(995), Step * 2 + Slack);

        // After the second (Retry-After: an hour) the wait is clamped to twice the step, not an hour.
        var afterSecond = await bot.Client.WaitForDeliveryAsync(first.Id, d => d["attempt_count"]!.GetValue<int>() == 2, "the second try to be recorded");
        Assert.Equal("pending", afterSecond.Value("status"));
        Assert.InRange(ScheduledWait(afterSecond), Step * 2 - TimeSpan.FromMilliseconds(5), Step * 2 + Slack);

        var tries = await receiver.WaitForAsync(3);
        Assert.Equal([503, 429, 200], tries.Select(t => t.AnsweredStatus));
        Assert.Single(tries.Select(t => t.Id).Distinct());
        Assert.All(tries, t => t.AssertSignedBy(bot.Secret));
        Assert.True(tries[1].ReceivedAt - tries[0].ReceivedAt >= TimeSpan.FromMilliseconds(990), "the second try came before Retry-After");
        Assert.True(tries[2].ReceivedAt - tries[1].ReceivedAt >= Step * 2 - TimeSpan.FromMilliseconds(10), "the third try came before twice the step");
        await bot.Client.WaitForStatusAsync(first.Id, "succeeded");
    }

    [Fact]
    public async Task A_receiver_that_answers_after_the_timeout_has_failed_that_try()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Enqueue(new ScriptedResponse(200, Body: "too late", Delay: TimeSpan.FromSeconds(5)));
        using var bot = await _hub.CreateWebhookBotAsync(receiver.Url, ["conversation.created"]);

        await bot.NewConversationAsync();

        var tries = await receiver.WaitForAsync(2);
        Assert.Equal(tries[0].Id, tries[1].Id);
        var delivered = await bot.Client.WaitForStatusAsync(tries[0].Id, "succeeded");
        var attempts = delivered.Attempts();
        Assert.Equal(2, attempts.Count);
        Assert.Null(attempts[0]["status_code"]);
        Assert.Contains("no answer within 1 s", attempts[0].Value("error"));
        Assert.Equal(200, attempts[1]["status_code"]!.GetValue<int>());
    }

    /// <summary>
    /// From the end of the last try (its start plus its latency) to the stored due time: the wait the hub chose.
    /// Read from the store, so the machine's speed plays no part.
    /// </summary>
    private static TimeSpan ScheduledWait(System.Text.Json.Nodes.JsonObject delivery)
    {
        var last = delivery.Attempts()[^1];
        var ended = DateTimeOffset.Parse(last.Value("time")).AddMilliseconds(last["latency_ms"]!.GetValue<long>());
        return DateTimeOffset.Parse(delivery.Value("next_attempt_at")) - ended;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hub.DisposeAsync();
}
