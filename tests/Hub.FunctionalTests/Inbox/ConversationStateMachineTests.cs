using System.Net;
using System.Net.Http.Json;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Inbox;

/// <summary>
/// <c>bot → pending_human → human → bot | closed</c>, <c>pending_human → closed</c>, <c>bot → closed</c>,
/// through the public surface (bot key and the inbox REST mirror): every allowed move is stored and
/// emitted with <c>previous_status</c>; every other move is refused and emits nothing.
/// </summary>
public sealed class ConversationStateMachineTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;
    private readonly WebhookReceiver _receiver = fixture.Receiver;

    private async Task<(InboxBot Bot, Agent Agent)> SetUpAsync()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        return (bot, await _hub.CreateAgentAsync([bot.Id]));
    }

    private static async Task<string> MoveAsync(Task<HttpResponseMessage> action)
    {
        var response = await action;
        await response.AssertStatusAsync(HttpStatusCode.OK);
        return (await response.JsonAsync()).Str("status");
    }

    [Fact]
    public async Task Bot_to_pending_human_to_human_to_bot_to_closed_is_stored_and_emitted_at_every_step()
    {
        var (bot, agent) = await SetUpAsync();
        var conversationId = await bot.NewConversationAsync();

        Assert.Equal("pending_human", await MoveAsync(bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)));
        Assert.Equal("pending_human", await bot.Client.StatusAsync(conversationId));
        Assert.Equal("human", await MoveAsync(agent.Client.InboxActAsync(conversationId, "claim")));
        Assert.Equal("human", await bot.Client.StatusAsync(conversationId));
        Assert.Equal("bot", await MoveAsync(agent.Client.InboxActAsync(conversationId, "hand-back")));
        Assert.Equal("bot", await bot.Client.StatusAsync(conversationId));
        Assert.Equal("closed", await MoveAsync(bot.Client.PostAsync($"/v1/conversations/{conversationId}/close", null)));
        Assert.Equal("closed", await bot.Client.StatusAsync(conversationId));

        Assert.Equal(
            [
                ("conversation.handoff_requested", "bot", "pending_human"),
                ("conversation.assigned", "pending_human", "human"),
                ("conversation.handed_back", "human", "bot"),
                ("conversation.closed", "bot", "closed"),
            ],
            await bot.Client.TransitionsAsync(conversationId));
        var assigned = await _receiver.EventForAsync("conversation.assigned", conversationId);
        Assert.Equal(agent.Id, assigned.Data.Str("assigned_agent_id"));
        Assert.Equal("pending_human", assigned.Data.Str("previous_status"));
        var handedBack = await _receiver.EventForAsync("conversation.handed_back", conversationId);
        Assert.Equal("human", handedBack.Data.Str("previous_status"));
        Assert.Null(handedBack.Data["assigned_agent_id"]?.GetValue<string>());
        var closed = await _receiver.EventForAsync("conversation.closed", conversationId);
        Assert.Equal("bot", closed.Data.Str("previous_status"));
    }

    [Fact]
    public async Task Pending_human_and_human_conversations_can_be_closed()
    {
        var (bot, agent) = await SetUpAsync();
        var queued = await bot.NewConversationAsync();
        var held = await bot.NewConversationAsync();
        var queuedByApi = await bot.NewConversationAsync();
        foreach (var id in new[] { queued, held, queuedByApi })
            await (await bot.Client.PostAsync($"/v1/conversations/{id}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.InboxActAsync(held, "claim")).AssertStatusAsync(HttpStatusCode.OK);

        Assert.Equal("closed", await MoveAsync(agent.Client.InboxActAsync(queued, "close")));
        Assert.Equal("closed", await MoveAsync(agent.Client.InboxActAsync(held, "close")));
        Assert.Equal("closed", await MoveAsync(bot.Client.PostAsync($"/v1/conversations/{queuedByApi}/close", null)));

        Assert.Equal(("conversation.closed", "pending_human", "closed"), (await bot.Client.TransitionsAsync(queued))[^1]);
        Assert.Equal(("conversation.closed", "human", "closed"), (await bot.Client.TransitionsAsync(held))[^1]);
        Assert.Equal(("conversation.closed", "pending_human", "closed"), (await bot.Client.TransitionsAsync(queuedByApi))[^1]);
    }

    [Fact]
    public async Task Claiming_a_conversation_still_with_the_bot_takes_it_through_the_queue()
    {
        var (bot, agent) = await SetUpAsync();
        var conversationId = await bot.NewConversationAsync();

        Assert.Equal("human", await MoveAsync(agent.Client.InboxActAsync(conversationId, "claim")));

        Assert.Equal(
            [("conversation.handoff_requested", "bot", "pending_human"), ("conversation.assigned", "pending_human", "human")],
            await bot.Client.TransitionsAsync(conversationId));
    }

    [Fact]
    public async Task A_held_conversation_cannot_go_back_to_the_queue()
    {
        var (bot, agent) = await SetUpAsync();
        var conversationId = await bot.NewConversationAsync();
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        var before = (await bot.Client.TransitionsAsync(conversationId)).Count;

        var response = await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null);

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal("human", await bot.Client.StatusAsync(conversationId));
        Assert.Equal(before, (await bot.Client.TransitionsAsync(conversationId)).Count);
    }

    [Fact]
    public async Task A_queued_conversation_cannot_be_handed_back_without_being_claimed()
    {
        var (bot, agent) = await SetUpAsync();
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);

        var response = await agent.Client.InboxActAsync(conversationId, "hand-back");

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal("pending_human", await bot.Client.StatusAsync(conversationId));
        Assert.Single(await bot.Client.TransitionsAsync(conversationId));
    }

    [Fact]
    public async Task A_closed_conversation_moves_nowhere_and_takes_no_messages()
    {
        var (bot, agent) = await SetUpAsync();
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.PostAsync($"/v1/conversations/{conversationId}/close", null)).AssertStatusAsync(HttpStatusCode.OK);

        await (await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null))
            .AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await (await agent.Client.InboxActAsync(conversationId, "hand-back")).AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await (await agent.Client.InboxActAsync(conversationId, "reply", new { text = "Hello?" }))
            .AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await (await bot.Client.SendMessageAsync(conversationId, "Hello?")).AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await (await bot.Client.SendMessageAsync(conversationId, "Hello?", mode: "streaming"))
            .AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await (await bot.Client.SendMessageAsync(conversationId, "Hello?", mode: "webhook"))
            .AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");

        // Closing again is a no-op, not a second event.
        Assert.Equal("closed", await MoveAsync(bot.Client.PostAsync($"/v1/conversations/{conversationId}/close", null)));
        Assert.Equal("closed", await MoveAsync(agent.Client.InboxActAsync(conversationId, "close")));
        Assert.Equal([("conversation.closed", "bot", "closed")], await bot.Client.TransitionsAsync(conversationId));
        Assert.Empty(await bot.Client.AllMessagesAsync(conversationId));
    }

    [Theory]
    [InlineData("pending_human")]
    [InlineData("human")]
    public async Task While_with_people_user_messages_are_stored_and_answered_only_by_people(string status)
    {
        var (bot, agent) = await SetUpAsync();
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);
        if (status == "human") await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);

        var blocking = await bot.Client.SendMessageAsync(conversationId, InboxKit.KnownQuestion);
        await blocking.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("handed_off", (await blocking.JsonAsync()).Str("status"));

        var streaming = await bot.Client.SendMessageAsync(conversationId, InboxKit.KnownQuestion + " (streaming)", mode: "streaming");
        await streaming.AssertStatusAsync(HttpStatusCode.OK);
        var frame = Assert.Single(await SseReader.ReadFramesAsync(streaming), f => !f.IsPing);
        Assert.Equal("handoff", frame.Event);
        Assert.Equal("handed_off", frame.Data!.Str("status"));

        var webhook = await bot.Client.SendMessageAsync(conversationId, InboxKit.KnownQuestion + " (webhook)", mode: "webhook");
        await webhook.AssertStatusAsync(HttpStatusCode.Accepted);

        var messages = await bot.Client.AllMessagesAsync(conversationId);
        Assert.Equal(3, messages.Count);
        Assert.All(messages, m => Assert.Equal("user", m.Str("from")));
        Assert.Equal([1L, 2L, 3L], messages.Select(m => m["sequence"]!.GetValue<long>()));
        Assert.Equal(status, await bot.Client.StatusAsync(conversationId));
        var received = await _receiver.WaitForAsync(3, r => r.Type == "message.received" && r.Data.Str("conversation_id") == conversationId);
        Assert.Equal(messages.Select(m => m.Str("message_id")).Order(), received.Select(r => r.Data.Str("message_id")).Order());
        Assert.Empty(await bot.Client.DeliveriesAsync(conversationId, "message.reply"));

        // Only a person answers.
        if (status == "pending_human") await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.InboxActAsync(conversationId, "reply", new { text = "A person here." })).AssertStatusAsync(HttpStatusCode.OK);
        var after = await bot.Client.AllMessagesAsync(conversationId);
        Assert.Equal(["user", "user", "user", "human"], after.Select(m => m.Str("from")));
    }

    [Fact]
    public async Task The_bot_key_cannot_act_as_an_agent_and_the_conversation_endpoints_need_a_bot_key()
    {
        var (bot, agent) = await SetUpAsync();
        var conversationId = await bot.NewConversationAsync();

        await (await bot.Client.InboxActAsync(conversationId, "claim")).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await agent.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        using var anonymous = _hub.CreateClient();
        await (await anonymous.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("bot", await bot.Client.StatusAsync(conversationId));
    }
}
