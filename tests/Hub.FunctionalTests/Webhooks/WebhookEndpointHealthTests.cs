using System.Net;
using System.Net.Http.Json;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Webhooks;

/// <summary>
/// Endpoint health. Per-endpoint limits: with 4 tries in flight per dispatcher and 2 per endpoint, a receiver
/// that hangs holds at most 2 of them, so another bot's webhook still goes out (ordering is asserted, never
/// durations). The disable window is shrunk from 5 days to 0.18 s, shorter than the 0.6 s the short
/// schedule spans, so an endpoint that keeps failing is disabled within one delivery's tries.
/// </summary>
public sealed class WebhookEndpointHealthTests : IAsyncLifetime
{
    private const int EndpointConcurrency = 2;
    private readonly HubFixture _hub = WebhookHub.Start(extra: new Dictionary<string, string?>
    {
        ["HUB_WEBHOOK_ENDPOINT_CONCURRENCY"] = EndpointConcurrency.ToString(),
        ["HUB_DISPATCHER_CONCURRENCY"] = "4",
        ["HUB_WEBHOOK_TIMEOUT_SECONDS"] = "30",
        ["HUB_WEBHOOK_DISABLE_AFTER_HOURS"] = (0.18 / 3600).ToString(System.Globalization.CultureInfo.InvariantCulture),
    });

    [Fact]
    public async Task A_slow_endpoint_does_not_delay_another_bots_deliveries()
    {
        await using var slow = await WebhookReceiver.StartAsync();
        await using var fast = await WebhookReceiver.StartAsync();
        slow.Hold();
        using var a = await _hub.CreateWebhookBotAsync(slow.Url);
        using var b = await _hub.CreateWebhookBotAsync(fast.Url);

        const int aMessages = 12; // more than the dispatcher's 4 + 4 slots (fast path and scheduler)
        var aConversation = await a.NewConversationAsync();
        for (var i = 0; i < aMessages; i++) await a.SendWebhookMessageAsync(aConversation);
        await slow.WaitUntilAsync(r => r.InFlight >= EndpointConcurrency, $"{EndpointConcurrency} tries hanging at the slow receiver");
        await Eventually.GetAsync(async () =>
            (await a.Client.ListDeliveriesAsync("status=pending")).Items().Count == aMessages ? "" : null, "all of A's replies to wait for delivery");

        await b.SendWebhookMessageAsync(await b.NewConversationAsync());

        var bReply = await fast.WaitForEventAsync("message.reply");
        bReply.AssertSignedBy(b.Secret);
        Assert.Equal(0, slow.Completed);
        Assert.True(slow.InFlight > 0, "A's tries should still be hanging when B's webhook arrives");
        Assert.True(slow.MaxInFlight <= EndpointConcurrency, $"{slow.MaxInFlight} tries were in flight at once to one endpoint");

        slow.Release();
        var aReplies = await slow.WaitForAsync(aMessages, r => r.AnsweredStatus == 200);
        Assert.Equal(aMessages, aReplies.Select(r => r.Id).Distinct().Count());
        foreach (var id in aReplies.Select(r => r.Id).Distinct()) await a.Client.WaitForStatusAsync(id, "succeeded");
        // Waiting for a busy endpoint is not a failed try: every delivery took exactly one.
        Assert.Equal(aMessages, slow.Received.Count);
        Assert.True(slow.MaxInFlight <= EndpointConcurrency, $"{slow.MaxInFlight} tries were in flight at once to one endpoint");
    }

    [Fact]
    public async Task An_endpoint_failing_for_the_whole_disable_window_is_disabled_and_its_delivery_waits()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailAlways(500);
        using var bot = await _hub.CreateWebhookBotAsync(receiver.Url, ["conversation.created"]);
        using var admin = _hub.Admin();

        await bot.NewConversationAsync();

        var disabled = await Eventually.GetAsync(async () =>
        {
            var b = await (await admin.GetAsync($"/v1/bots/{bot.Id}")).JsonAsync();
            return b["webhook"]!.Value("status") == "disabled" ? b : null;
        }, "the failing endpoint to be disabled");
        Assert.Contains("failing", disabled["webhook"]!.Value("disabled_reason"));
        var id = receiver.Received[0].Id;
        var waiting = await bot.Client.GetDeliveryAsync(id);
        Assert.Equal("pending", waiting.Value("status"));
        var tries = waiting.Attempts().Count;
        Assert.InRange(tries, 2, 4);
        await Task.Delay(TimeSpan.FromMilliseconds(500)); // ten scheduler polls
        Assert.Equal(tries, receiver.Received.Count);

        receiver.SucceedFromNowOn();
        using (var enable = await admin.PatchAsJsonAsync($"/v1/bots/{bot.Id}", new { webhook = new { status = "enabled" } }))
            Assert.Equal(HttpStatusCode.OK, enable.StatusCode);
        var delivered = await bot.Client.WaitForStatusAsync(id, "succeeded");
        Assert.Equal(tries + 1, delivered.Attempts().Count);
        var bot2 = await (await admin.GetAsync($"/v1/bots/{bot.Id}")).JsonAsync();
        Assert.Equal("enabled", bot2["webhook"]!.Value("status"));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hub.DisposeAsync();
}
