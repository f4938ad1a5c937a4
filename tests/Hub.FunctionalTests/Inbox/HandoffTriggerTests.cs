using System.Net;
using System.Net.Http.Json;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Inbox;

/// <summary>
/// The handoff triggers that need no LLM: a bot's keywords, the offline provider finding no answer, and
/// <c>POST …/handoff</c>. Each answers the triggering message with <c>handed_off</c> and emits
/// <c>conversation.handoff_requested</c> with <c>previous_status</c>.
/// </summary>
public sealed class HandoffTriggerTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;
    private readonly WebhookReceiver _receiver = fixture.Receiver;

    private async Task AssertHandedOffAsync(InboxBot bot, string conversationId)
    {
        Assert.Equal("pending_human", await bot.Client.StatusAsync(conversationId));
        var webhook = await _receiver.EventForAsync("conversation.handoff_requested", conversationId);
        Assert.Equal("bot", webhook.Data.Str("previous_status"));
        Assert.Equal("pending_human", webhook.Data.Str("status"));
        var stored = Assert.Single(await bot.Client.DeliveriesAsync(conversationId, "conversation.handoff_requested"));
        Assert.Equal("bot", stored["payload"]!["data"]!.Str("previous_status"));
        Assert.DoesNotContain(await bot.Client.AllMessagesAsync(conversationId), m => m.IsAi());
    }

    [Theory]
    [InlineData("HUMAN please")]
    [InlineData("Can I talk to a human?")]
    [InlineData("agent!")]
    [InlineData("I want an Agent, now.")]
    public async Task A_keyword_as_a_whole_word_in_any_case_hands_off_a_blocking_message_with_202(string content)
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, content);

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        var body = await response.JsonAsync();
        Assert.Equal("handed_off", body.Str("status"));
        Assert.Equal(conversationId, body.Str("conversation_id"));
        var user = Assert.Single(await bot.Client.AllMessagesAsync(conversationId));
        Assert.Equal(content, user.Str("content"));
        Assert.Equal(body.Str("message_id"), user.Str("message_id"));
        await AssertHandedOffAsync(bot, conversationId);
    }

    [Fact]
    public async Task Keywords_changed_by_patch_apply_to_the_very_next_message()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.SendMessageAsync(conversationId, "Is it raining?")).AssertStatusAsync(HttpStatusCode.OK);
        using var admin = _hub.Admin();

        var patched = await admin.PatchAsJsonAsync($"/v1/bots/{bot.Id}", new { handoff = new { keywords = new[] { "raining" } } });
        var response = await bot.Client.SendMessageAsync(conversationId, "Is it raining?");

        await patched.AssertStatusAsync(HttpStatusCode.OK);
        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("handed_off", (await response.JsonAsync()).Str("status"));
    }

    [Theory]
    [InlineData("Is that humane?")]
    [InlineData("My humans are waiting")]
    [InlineData("Which agents")]
    [InlineData("superhuman")]
    public async Task A_keyword_inside_another_word_does_not_hand_off(string content)
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, content);

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var reply = await response.JsonAsync();
        Assert.Equal("answered", reply.Str("status"));
        Assert.Equal("ai", reply.Str("from"));
        Assert.Equal("bot", await bot.Client.StatusAsync(conversationId));
        Assert.Empty(await bot.Client.DeliveriesAsync(conversationId, "conversation.handoff_requested"));
    }

    [Fact]
    public async Task A_keyword_in_a_streaming_message_ends_the_stream_with_a_handoff_event()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, "A human, please", mode: "streaming");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var frame = Assert.Single(await SseReader.ReadFramesAsync(response), f => !f.IsPing);
        Assert.Equal("handoff", frame.Event);
        Assert.Equal(conversationId, frame.Data!.Str("conversation_id"));
        Assert.Equal("handed_off", frame.Data!.Str("status"));
        await AssertHandedOffAsync(bot, conversationId);
    }

    [Fact]
    public async Task The_offline_provider_hands_off_when_it_has_no_answer_and_on_no_answer_is_set()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url, onNoAnswer: true);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, InboxKit.UnknownQuestion);

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("handed_off", (await response.JsonAsync()).Str("status"));
        await AssertHandedOffAsync(bot, conversationId);
        var user = Assert.Single(await bot.Client.AllMessagesAsync(conversationId));
        Assert.Equal("skipped", user.Str("reply_status"));
    }

    [Fact]
    public async Task The_offline_provider_with_on_no_answer_still_answers_what_it_knows()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url, onNoAnswer: true);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, InboxKit.KnownQuestion);

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal(InboxKit.Knowledge[0], (await response.JsonAsync()).Text());
        Assert.Equal("bot", await bot.Client.StatusAsync(conversationId));
    }

    [Fact]
    public async Task The_offline_provider_hands_off_a_streaming_message_it_cannot_answer()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url, onNoAnswer: true);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, InboxKit.UnknownQuestion, mode: "streaming");

        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();
        Assert.Equal("handoff", frames[^1].Event);
        Assert.Equal("handed_off", frames[^1].Data!.Str("status"));
        Assert.DoesNotContain(frames, f => f.Event is "message" or "message_end");
        await AssertHandedOffAsync(bot, conversationId);
    }

    [Fact]
    public async Task Without_on_no_answer_the_offline_provider_answers_with_the_fallback_text()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url, onNoAnswer: false);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, InboxKit.UnknownQuestion);

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var reply = await response.JsonAsync();
        Assert.Equal(InboxKit.FallbackText, reply.Text());
        Assert.Equal("ai", reply.Str("from"));
        Assert.Equal("bot", await bot.Client.StatusAsync(conversationId));
        Assert.Empty(await bot.Client.DeliveriesAsync(conversationId, "conversation.handoff_requested"));
    }

    [Fact]
    public async Task The_handoff_endpoint_moves_the_conversation_to_pending_human_once()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "VIP customer" });

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var conversation = await response.JsonAsync();
        Assert.Equal("pending_human", conversation.Str("status"));
        Assert.Equal(conversationId, conversation.Str("conversation_id"));
        await AssertHandedOffAsync(bot, conversationId);

        // Asking again changes nothing and emits nothing.
        var again = await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null);
        await again.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("pending_human", (await again.JsonAsync()).Str("status"));
        Assert.Single(await bot.Client.DeliveriesAsync(conversationId, "conversation.handoff_requested"));
    }

    [Fact]
    public async Task The_handoff_endpoint_hides_other_bots_conversations()
    {
        var mine = await _hub.CreateInboxBotAsync();
        var other = await _hub.CreateInboxBotAsync();
        var conversationId = await other.NewConversationAsync();

        var response = await mine.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null);

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        Assert.Equal("bot", await other.Client.StatusAsync(conversationId));
    }

    [Fact]
    public async Task The_handoff_endpoints_reason_is_stored_returned_and_sent_in_the_webhook()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "VIP customer, wants a refund" });

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("VIP customer, wants a refund", (await response.JsonAsync()).Str("handoff_reason"));
        Assert.Equal("VIP customer, wants a refund", (await bot.Client.ConversationAsync(conversationId)).Str("handoff_reason"));
        var webhook = await _receiver.EventForAsync("conversation.handoff_requested", conversationId);
        Assert.Equal("VIP customer, wants a refund", webhook.Data.Str("handoff_reason"));
        var stored = Assert.Single(await bot.Client.DeliveriesAsync(conversationId, "conversation.handoff_requested"));
        Assert.Equal("VIP customer, wants a refund", stored["payload"]!["data"]!.Str("handoff_reason"));
    }

    [Fact]
    public async Task A_keyword_handoff_gives_the_keyword_as_its_reason()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        await (await bot.Client.SendMessageAsync(conversationId, "Can I talk to a HUMAN?")).AssertStatusAsync(HttpStatusCode.Accepted);

        Assert.Equal("keyword: human", (await bot.Client.ConversationAsync(conversationId)).Str("handoff_reason"));
        var webhook = await _receiver.EventForAsync("conversation.handoff_requested", conversationId);
        Assert.Equal("keyword: human", webhook.Data.Str("handoff_reason"));
    }

    [Fact]
    public async Task A_no_answer_handoff_says_no_answer()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url, onNoAnswer: true);
        var conversationId = await bot.NewConversationAsync();

        await (await bot.Client.SendMessageAsync(conversationId, InboxKit.UnknownQuestion)).AssertStatusAsync(HttpStatusCode.Accepted);

        Assert.Equal("no answer", (await bot.Client.ConversationAsync(conversationId)).Str("handoff_reason"));
        var webhook = await _receiver.EventForAsync("conversation.handoff_requested", conversationId);
        Assert.Equal("no answer", webhook.Data.Str("handoff_reason"));
    }

    [Fact]
    public async Task The_last_handoffs_reason_stays_after_the_conversation_is_handed_back()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "billing" })).AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);

        var handedBack = await agent.Client.InboxActAsync(conversationId, "hand-back");

        await handedBack.AssertStatusAsync(HttpStatusCode.OK);
        var conversation = await handedBack.JsonAsync();
        Assert.Equal("bot", conversation.Str("status"));
        Assert.Equal("billing", conversation.Str("handoff_reason"));
    }

    [Fact]
    public async Task A_handoff_reason_over_500_characters_is_400()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = new string('x', 501) });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?["reason"]);
        Assert.Equal("bot", await bot.Client.StatusAsync(conversationId));
    }
}
