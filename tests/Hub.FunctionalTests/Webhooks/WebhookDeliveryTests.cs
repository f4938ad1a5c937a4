using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using Hub.Core.Data;
using Hub.FunctionalTests.Infrastructure;
using Hub.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hub.FunctionalTests.Webhooks;

/// <summary>
/// Delivery, signing, retries, failure, rotation and disabling, against real loopback receivers, on one hub
/// whose retry schedule is 100 ms, 200 ms, 300 ms (so a delivery has four tries).
/// </summary>
public sealed class WebhookDeliveryTests(WebhookHubFixture fixture) : IClassFixture<WebhookHubFixture>
{
    private static readonly TimeSpan[] Steps = [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(300)];
    private HubFixture Hub => fixture.Hub;

    [Fact]
    public async Task A_webhook_mode_message_is_accepted_and_its_reply_is_posted_signed_as_message_reply()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var messageId = await bot.SendWebhookMessageAsync(conversationId);

        var webhook = await receiver.WaitForEventAsync("message.reply");
        webhook.AssertSignedBy(bot.Secret);
        Assert.Single(StandardWebhooksVerifier.Signatures(webhook.Signature));
        Assert.Equal("/hook", webhook.Path);
        var data = webhook.AssertEnvelope("message.reply");
        Assert.Equal(conversationId, data.Value("conversation_id"));
        Assert.Equal(messageId, data.Value("reply_to"));
        Assert.NotEqual(messageId, data.Value("message_id"));
        Assert.Equal("ai", data.Value("from"));
        Assert.Equal(WebhookTestKit.Knowledge[0], data["output"]![0]!["content"]!["text"]!.GetValue<string>());
        Assert.Equal(2, data["sequence"]!.GetValue<long>());
        Assert.True(data["create_time"]!.GetValue<long>() > 1_600_000_000);
        Assert.True(data["usage"]!["tokens"]!["total_tokens"]!.GetValue<long>() > 0);

        // data is the reply object as stored: the same message, at the same place in the conversation.
        var messages = await (await bot.Client.GetAsync($"/v1/conversations/{conversationId}/messages")).JsonAsync();
        var stored = messages["data"]!.AsArray().Single(m => m!["from"]!.GetValue<string>() == "ai")!;
        Assert.Equal(stored.Value("message_id"), data.Value("message_id"));
        Assert.Equal(stored["sequence"]!.GetValue<long>(), data["sequence"]!.GetValue<long>());

        // webhook-id names the delivery, which shows one successful attempt.
        var delivery = await bot.Client.WaitForStatusAsync(webhook.Id, "succeeded");
        Assert.Equal("message.reply", delivery.Value("event_type"));
        Assert.Equal(data.Value("message_id"), delivery.Value("message_id"));
        var attempt = Assert.Single(delivery.Attempts());
        Assert.Equal(200, attempt["status_code"]!.GetValue<int>());
        Assert.Equal("ok", attempt.Value("response_body_excerpt"));

        // The default subscription is message.reply only: the new conversation and the user message sent nothing.
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task Failed_tries_are_retried_on_the_schedule_with_one_webhook_id_and_every_attempt_is_recorded()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailNext(1, 500, body: "boom");
        receiver.FailNext(1, 502, body: "bad gateway");
        receiver.FailNext(1, 503, body: new string('x', 5000));
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        await bot.SendWebhookMessageAsync(conversationId);

        var tries = await receiver.WaitForAsync(4);
        Assert.Equal([500, 502, 503, 200], tries.Select(t => t.AnsweredStatus));
        Assert.Single(tries.Select(t => t.Id).Distinct());
        Assert.Single(tries.Select(t => t.BodyText).Distinct());
        foreach (var t in tries) t.AssertSignedBy(bot.Secret);
        // Each wait is at least its step less the 20 % jitter (only a lower bound: nothing here is timed).
        for (var i = 1; i < tries.Count; i++)
            Assert.True(tries[i].ReceivedAt - tries[i - 1].ReceivedAt >= Steps[i - 1] * 0.8 - TimeSpan.FromMilliseconds(5),
                $"try {i + 1} came {(tries[i].ReceivedAt - tries[i - 1].ReceivedAt).TotalMilliseconds} ms after try {i}, before its step");

        var delivery = await bot.Client.WaitForStatusAsync(tries[0].Id, "succeeded");
        Assert.Equal(4, delivery["attempt_count"]!.GetValue<int>());
        var attempts = delivery.Attempts();
        Assert.Equal([1, 2, 3, 4], attempts.Select(a => a["attempt"]!.GetValue<int>()));
        Assert.Equal([500, 502, 503, 200], attempts.Select(a => a["status_code"]!.GetValue<int>()));
        Assert.Equal(["failed", "failed", "failed", "succeeded"], attempts.Select(a => a.Value("outcome")));
        Assert.All(attempts.Take(3), a => Assert.Contains(a["status_code"]!.GetValue<int>().ToString(), a.Value("error")));
        Assert.Null(attempts[3]["error"]);
        Assert.Equal("boom", attempts[0].Value("response_body_excerpt"));
        Assert.Equal("bad gateway", attempts[1].Value("response_body_excerpt"));
        Assert.Equal(new string('x', 4096), attempts[2].Value("response_body_excerpt"));
        Assert.All(attempts, a => Assert.True(a["latency_ms"]!.GetValue<long>() >= 0));
        var times = attempts.Select(a => DateTimeOffset.Parse(a.Value("time"))).ToList();
        Assert.Equal(times.Order(), times);
    }

    [Fact]
    public async Task A_delivery_that_uses_up_the_schedule_fails_and_manual_retry_and_recover_deliver_it()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailAlways(500, "down for maintenance");
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        await bot.SendWebhookMessageAsync(conversationId);
        var first = (await receiver.WaitForAsync(1))[0].Id;
        var failed = await bot.Client.WaitForStatusAsync(first, "failed");
        Assert.Equal(1 + Steps.Length, failed["attempt_count"]!.GetValue<int>());
        Assert.Equal(1 + Steps.Length, failed.Attempts().Count);
        Assert.All(failed.Attempts(), a => Assert.Equal("down for maintenance", a.Value("response_body_excerpt")));
        Assert.Equal(500, failed["last_status_code"]!.GetValue<int>());

        await Task.Delay(20);
        var since = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        await bot.SendWebhookMessageAsync(conversationId, "Are returns free?");
        var second = (await receiver.WaitForAsync(1, r => r.Id != first))[0].Id;
        await bot.Client.WaitForStatusAsync(second, "failed");
        var triesSoFar = receiver.Received.Count;

        receiver.SucceedFromNowOn();
        using (var noSince = await bot.Client.PostAsJsonAsync($"/v1/bots/{bot.Id}/webhook/recover", new { }))
            await noSince.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        using (var recover = await bot.Client.PostAsJsonAsync($"/v1/bots/{bot.Id}/webhook/recover", new { since }))
        {
            Assert.Equal(HttpStatusCode.OK, recover.StatusCode);
            Assert.Equal(1, (await recover.JsonAsync())["recovered"]!.GetValue<int>());
        }
        var recovered = await bot.Client.WaitForStatusAsync(second, "succeeded");
        Assert.Equal(2 + Steps.Length, recovered.Attempts().Count);
        Assert.Equal(200, recovered.Attempts()[^1]["status_code"]!.GetValue<int>());
        // Only deliveries since the given time come back: the older one is still failed and untouched.
        var older = await bot.Client.GetDeliveryAsync(first);
        Assert.Equal("failed", older.Value("status"));
        Assert.Equal(1 + Steps.Length, older.Attempts().Count);

        using (var retry = await bot.Client.PostAsync($"/v1/deliveries/{first}/retry", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
            Assert.Equal(first, (await retry.JsonAsync()).Value("delivery_id"));
        }
        var retried = await bot.Client.WaitForStatusAsync(first, "succeeded");
        Assert.Equal(2 + Steps.Length, retried.Attempts().Count);

        // One more try each, under the same webhook-id, signed like the others.
        var all = receiver.Received;
        Assert.Equal(triesSoFar + 2, all.Count);
        Assert.Equal(2 + Steps.Length, all.Count(r => r.Id == first));
        Assert.Equal(2 + Steps.Length, all.Count(r => r.Id == second));
        Assert.All(all, r => r.AssertSignedBy(bot.Secret));
        Assert.Equal(2, all.Count(r => r.AnsweredStatus == 200));
    }

    [Fact]
    public async Task Redirects_are_not_followed()
    {
        await using var elsewhere = await WebhookReceiver.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Default = new ScriptedResponse(307, Body: "moved", Location: elsewhere.Url);
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url, ["conversation.created"]);

        await bot.NewConversationAsync();

        var id = (await receiver.WaitForAsync(1))[0].Id;
        var failed = await bot.Client.WaitForStatusAsync(id, "failed");
        Assert.All(failed.Attempts(), a => Assert.Equal(307, a["status_code"]!.GetValue<int>()));
        Assert.Equal(1 + Steps.Length, receiver.Received.Count);
        Assert.Empty(elsewhere.Received);
    }

    [Fact]
    public async Task A_refused_connection_is_a_failed_try_with_the_error_recorded()
    {
        string url;
        await using (var closed = await WebhookReceiver.StartAsync()) url = closed.Url; // nothing listens there any more
        using var bot = await Hub.CreateWebhookBotAsync(url, ["conversation.created"]);

        await bot.NewConversationAsync();

        var id = (await bot.Client.ListDeliveriesAsync()).Items().Single().Value("delivery_id");
        var failed = await bot.Client.WaitForStatusAsync(id, "failed");
        Assert.Equal(1 + Steps.Length, failed.Attempts().Count);
        Assert.All(failed.Attempts(), a =>
        {
            Assert.Null(a["status_code"]);
            Assert.Contains("connect", a.Value("error"), StringComparison.OrdinalIgnoreCase);
            Assert.Equal("failed", a.Value("outcome"));
        });
        Assert.Contains("connect", failed.Value("last_error"), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task After_a_secret_rotation_deliveries_carry_two_signatures_one_per_secret()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url);
        var conversationId = await bot.NewConversationAsync();
        await bot.SendWebhookMessageAsync(conversationId);
        var before = await receiver.WaitForEventAsync("message.reply");
        Assert.Single(StandardWebhooksVerifier.Signatures(before.Signature));
        before.AssertSignedBy(bot.Secret);

        using var admin = Hub.Admin();
        using var rotate = await admin.PostAsync($"/v1/bots/{bot.Id}/webhook/rotate-secret", null);
        Assert.Equal(HttpStatusCode.OK, rotate.StatusCode);
        var oldSecret = bot.Secret;
        var newSecret = (await rotate.JsonAsync())["webhook"]!.Value("secret");
        Assert.NotEqual(oldSecret, newSecret);
        Assert.StartsWith("whsec_", newSecret);
        Assert.InRange(StandardWebhooksVerifier.Key(newSecret).Length, 24, 64);
        Assert.Equal(newSecret, (await (await admin.GetAsync($"/v1/bots/{bot.Id}")).JsonAsync())["webhook"]!.Value("secret"));

        await bot.SendWebhookMessageAsync(conversationId, "Are returns free?");
        var after = await receiver.WaitForEventAsync("message.reply", r => r.Id != before.Id);

        var signatures = StandardWebhooksVerifier.Signatures(after.Signature);
        Assert.Equal(2, signatures.Count);
        Assert.Equal(after.Signature, string.Join(' ', signatures));
        bool Verifies(string secret, string signature) =>
            StandardWebhooksVerifier.Verify(secret, after.Id, after.Timestamp, after.Body, signature);
        var byOld = signatures.Where(s => Verifies(oldSecret, s)).ToList();
        var byNew = signatures.Where(s => Verifies(newSecret, s)).ToList();
        Assert.Single(byOld);
        Assert.Single(byNew);
        Assert.NotEqual(byOld[0], byNew[0]);
        // A receiver that knows either secret accepts the delivery.
        after.AssertSignedBy(oldSecret);
        after.AssertSignedBy(newSecret);

        // Once the 24 hours are over (moved into the past here) only the new secret signs.
        await using (var c = await Hub.Services.GetRequiredService<HubDb>().OpenAsync())
            await c.ExecuteAsync("UPDATE bots SET webhook_previous_secret_expires_at = @past WHERE id = @id",
                new { id = bot.Id, past = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds() });
        await bot.SendWebhookMessageAsync(conversationId, "Do orders ship soon?");
        var later = await receiver.WaitForEventAsync("message.reply", r => r.Id != before.Id && r.Id != after.Id);
        Assert.Single(StandardWebhooksVerifier.Signatures(later.Signature));
        later.AssertSignedBy(newSecret);
        Assert.False(StandardWebhooksVerifier.Verify(oldSecret, later.Id, later.Timestamp, later.Body, later.Signature));
    }

    [Fact]
    public async Task A_410_disables_the_endpoint_its_deliveries_wait_and_go_out_after_it_is_re_enabled()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailNext(1, 410, body: "gone");
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url);
        using var admin = Hub.Admin();
        var conversationId = await bot.NewConversationAsync();

        await bot.SendWebhookMessageAsync(conversationId);
        var gone = (await receiver.WaitForAsync(1))[0];
        Assert.Equal(410, gone.AnsweredStatus);

        var disabled = await Eventually.GetAsync(async () =>
        {
            var b = await (await admin.GetAsync($"/v1/bots/{bot.Id}")).JsonAsync();
            return b["webhook"]!.Value("status") == "disabled" ? b : null;
        }, "the bot's webhook to be disabled");
        Assert.Contains("410", disabled["webhook"]!.Value("disabled_reason"));

        // The 410'd delivery and a newer one wait: pending, not failed, and not tried.
        await bot.SendWebhookMessageAsync(conversationId, "Are returns free?");
        var waiting = await Eventually.GetAsync(async () =>
        {
            var page = (await bot.Client.ListDeliveriesAsync("status=pending")).Items();
            return page.Count == 2 ? page : null;
        }, "two pending deliveries");
        var newer = waiting.Single(d => d.Value("delivery_id") != gone.Id).Value("delivery_id");
        await Task.Delay(TimeSpan.FromSeconds(1)); // twenty scheduler polls
        Assert.Single(receiver.Received);
        var first = await bot.Client.GetDeliveryAsync(gone.Id);
        Assert.Equal("pending", first.Value("status"));
        Assert.Equal(410, Assert.Single(first.Attempts())["status_code"]!.GetValue<int>());
        var second = await bot.Client.GetDeliveryAsync(newer);
        Assert.Equal("pending", second.Value("status"));
        Assert.Empty(second.Attempts());

        using var enable = await admin.PatchAsJsonAsync($"/v1/bots/{bot.Id}", new { webhook = new { status = "enabled" } });
        Assert.Equal(HttpStatusCode.OK, enable.StatusCode);
        var enabled = await enable.JsonAsync();
        Assert.Equal("enabled", enabled["webhook"]!.Value("status"));
        Assert.Null(enabled["webhook"]!["disabled_reason"]);

        await bot.Client.WaitForStatusAsync(gone.Id, "succeeded");
        await bot.Client.WaitForStatusAsync(newer, "succeeded");
        var all = receiver.Received;
        Assert.Equal([410, 200], all.Where(r => r.Id == gone.Id).Select(r => r.AnsweredStatus));
        Assert.Equal([200], all.Where(r => r.Id == newer).Select(r => r.AnsweredStatus));
        Assert.All(all, r => r.AssertSignedBy(bot.Secret));
    }

    [Fact]
    public async Task Conversation_and_message_events_go_to_a_bot_that_subscribes_to_them()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url,
            ["message.received", "message.reply", "conversation.created", "conversation.handoff_requested", "conversation.closed"]);

        var conversationId = await bot.NewConversationAsync();
        var created = (await receiver.WaitForEventAsync("conversation.created")).AssertEnvelope("conversation.created");
        Assert.Equal(conversationId, created.Value("conversation_id"));
        Assert.Equal(bot.Id, created.Value("bot_id"));
        Assert.Equal("u-42", created.Value("user_id"));
        Assert.Equal("bot", created.Value("status"));

        var messageId = await bot.SendWebhookMessageAsync(conversationId);
        var received = (await receiver.WaitForEventAsync("message.received")).AssertEnvelope("message.received");
        Assert.Equal(messageId, received.Value("message_id"));
        Assert.Equal(conversationId, received.Value("conversation_id"));
        Assert.Equal("user", received.Value("from"));
        Assert.Equal(WebhookTestKit.Question, received.Value("content"));
        Assert.Equal(1, received["sequence"]!.GetValue<long>());
        var reply = (await receiver.WaitForEventAsync("message.reply")).AssertEnvelope("message.reply");
        Assert.Equal(messageId, reply.Value("reply_to"));
        Assert.Equal(2, reply["sequence"]!.GetValue<long>());

        using (var handoff = await bot.Client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "wants a person" }))
            Assert.Equal(HttpStatusCode.OK, handoff.StatusCode);
        var handedOff = (await receiver.WaitForEventAsync("conversation.handoff_requested")).AssertEnvelope("conversation.handoff_requested");
        Assert.Equal(conversationId, handedOff.Value("conversation_id"));
        Assert.Equal("pending_human", handedOff.Value("status"));
        Assert.Equal("bot", handedOff.Value("previous_status"));

        using (var close = await bot.Client.PostAsync($"/v1/conversations/{conversationId}/close", null))
            Assert.Equal(HttpStatusCode.OK, close.StatusCode);
        var closed = (await receiver.WaitForEventAsync("conversation.closed")).AssertEnvelope("conversation.closed");
        Assert.Equal(conversationId, closed.Value("conversation_id"));
        Assert.Equal("closed", closed.Value("status"));
        Assert.Equal("pending_human", closed.Value("previous_status"));

        var all = receiver.Received;
        Assert.Equal(5, all.Count);
        Assert.Equal(5, all.Select(r => r.Id).Distinct().Count());
        Assert.All(all, r => r.AssertSignedBy(bot.Secret));
        // Deliveries are not ordered among themselves (receivers order by sequence); these were awaited in turn.
        Assert.Equal(
            new[] { "conversation.created", "message.received", "message.reply", "conversation.handoff_requested", "conversation.closed" }.Order(),
            all.Select(r => r.Type).Order());
        Assert.Equal("conversation.created", all[0].Type);
        Assert.Equal("conversation.closed", all[^1].Type);
    }

    [Fact]
    public async Task A_bot_key_sees_and_retries_only_its_own_bots_deliveries()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var a = await Hub.CreateWebhookBotAsync(receiver.Url);
        using var b = await Hub.CreateWebhookBotAsync(receiver.Url);
        var aConversation = await a.NewConversationAsync();
        var bConversation = await b.NewConversationAsync();
        await a.SendWebhookMessageAsync(aConversation);
        await b.SendWebhookMessageAsync(bConversation);
        var aDelivery = (await receiver.WaitForEventAsync("message.reply", r => r.Data.Value("conversation_id") == aConversation)).Id;
        var bDelivery = (await receiver.WaitForEventAsync("message.reply", r => r.Data.Value("conversation_id") == bConversation)).Id;
        await a.Client.WaitForStatusAsync(aDelivery, "succeeded");

        using (var foreign = await a.Client.GetAsync($"/v1/deliveries/{bDelivery}"))
            await foreign.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        using (var foreignRetry = await a.Client.PostAsync($"/v1/deliveries/{bDelivery}/retry", null))
            await foreignRetry.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        using (var foreignRecover = await a.Client.PostAsJsonAsync($"/v1/bots/{b.Id}/webhook/recover", new { since = DateTimeOffset.UtcNow.AddHours(-1) }))
            await foreignRecover.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");

        var own = (await a.Client.ListDeliveriesAsync()).Items();
        Assert.Equal([aDelivery], own.Select(d => d.Value("delivery_id")));
        using (var asked = await a.Client.GetAsync($"/v1/deliveries?bot_id={b.Id}"))
            Assert.True(asked.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound, $"bot_id of another bot: {(int)asked.StatusCode}");

        // The admin sees every bot's, and can narrow to one.
        using var admin = Hub.Admin();
        Assert.Equal(b.Id, (await admin.GetDeliveryAsync(bDelivery)).Value("bot_id"));
        var bOnly = (await admin.ListDeliveriesAsync($"bot_id={b.Id}")).Items();
        Assert.Equal([bDelivery], bOnly.Select(d => d.Value("delivery_id")));
    }

    [Fact]
    public async Task Deliveries_are_listed_by_status_and_paged_with_a_cursor()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var bot = await Hub.CreateWebhookBotAsync(receiver.Url, ["conversation.created"]);
        for (var i = 0; i < 3; i++) await bot.NewConversationAsync();
        var ids = (await receiver.WaitForAsync(3)).Select(r => r.Id).ToList();
        foreach (var id in ids) await bot.Client.WaitForStatusAsync(id, "succeeded");

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await bot.Client.ListDeliveriesAsync("status=succeeded&limit=1" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}"));
            var items = page.Items();
            Assert.True(items.Count <= 1);
            seen.AddRange(items.Select(d => d.Value("delivery_id")));
            cursor = page["next_cursor"]?.GetValue<string>();
        } while (cursor is not null && seen.Count < 10);
        Assert.Equal(ids.Order(), seen.Order());
        Assert.Equal(seen.Distinct(), seen);

        Assert.Empty((await bot.Client.ListDeliveriesAsync("status=failed")).Items());
        Assert.Empty((await bot.Client.ListDeliveriesAsync("status=pending")).Items());
        using var bad = await bot.Client.GetAsync("/v1/deliveries?status=lost");
        await bad.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task With_private_addresses_allowed_a_host_name_of_this_machine_is_dialled()
    {
        // The control for WebhookSsrfTests: the same kind of name is refused only because of the guard.
        var host = LoopbackName.Find();
        await using var receiver = await WebhookReceiver.StartAsync();
        using var bot = await Hub.CreateWebhookBotAsync(receiver.UrlWithHost(host), ["conversation.created"]);

        var conversationId = await bot.NewConversationAsync();

        var webhook = await receiver.WaitForEventAsync("conversation.created");
        webhook.AssertSignedBy(bot.Secret);
        Assert.Equal(conversationId, webhook.Data.Value("conversation_id"));
    }
}
