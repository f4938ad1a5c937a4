using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Webhooks;

/// <summary>Retries are stored, not held in memory: a new hub on the same database makes the try that was due.</summary>
public sealed class WebhookRestartTests
{
    private const string Schedule = "2s";

    [Fact]
    public async Task A_delivery_pending_a_retry_survives_a_restart_and_is_delivered_exactly_once()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailAlways(503);
        var databasePath = HubFixture.NewDatabasePath();
        string deliveryId;
        WebhookBot bot;

        var first = WebhookHub.Start(Schedule, databasePath: databasePath);
        try
        {
            bot = await first.CreateWebhookBotAsync(receiver.Url);
            await bot.SendWebhookMessageAsync(await bot.NewConversationAsync());
            deliveryId = (await receiver.WaitForAsync(1))[0].Id;
            var pending = await bot.Client.WaitForDeliveryAsync(deliveryId, d => d["attempt_count"]!.GetValue<int>() == 1, "the first try to be recorded");
            Assert.Equal("pending", pending.Value("status"));
            Assert.NotNull(pending["next_attempt_at"]);
            bot.Dispose();
        }
        finally
        {
            await first.StopKeepingDatabaseAsync();
        }
        // The retry was not due before the hub stopped (0.8 × 2 s at the earliest).
        Assert.Single(receiver.Received);

        receiver.SucceedFromNowOn();
        await using var second = WebhookHub.Start(Schedule, databasePath: databasePath);
        using var client = second.WithKey(bot.ApiKey);

        var delivered = await client.WaitForStatusAsync(deliveryId, "succeeded");
        Assert.Equal(2, delivered["attempt_count"]!.GetValue<int>());
        Assert.Equal([503, 200], delivered.Attempts().Select(a => a["status_code"]!.GetValue<int>()));

        // Some polls later there is still no other try: the reply went out once.
        await Task.Delay(TimeSpan.FromMilliseconds(600));
        var tries = receiver.Received;
        Assert.Equal([503, 200], tries.Select(t => t.AnsweredStatus));
        Assert.All(tries, t => Assert.Equal(deliveryId, t.Id));
        Assert.All(tries, t => t.AssertSignedBy(bot.Secret));
        Assert.Equal("message.reply", tries[1].Type);
        // The new hub kept the stored due time rather than trying at once on start.
        Assert.True(tries[1].ReceivedAt - tries[0].ReceivedAt >= TimeSpan.FromSeconds(1.6) - TimeSpan.FromMilliseconds(10),
            "the retry came before its scheduled time");
        Assert.Single((await client.ListDeliveriesAsync()).Items());
    }
}
