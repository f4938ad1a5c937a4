using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Inbox;

/// <summary>The inbox's REST mirror: views with counts, claim, reply, hand back and close.</summary>
public sealed class InboxApiTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;
    private readonly WebhookReceiver _receiver = fixture.Receiver;

    private async Task<string> QueuedConversationAsync(InboxBot bot)
    {
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.SendMessageAsync(conversationId, "I want a human")).AssertStatusAsync(HttpStatusCode.Accepted);
        return conversationId;
    }

    [Fact]
    public async Task The_views_show_the_queue_my_conversations_and_all_open_ones_with_counts()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var a = await _hub.CreateAgentAsync([bot.Id]);
        var b = await _hub.CreateAgentAsync([bot.Id]);
        var withBot = await bot.NewConversationAsync();
        var queued = await QueuedConversationAsync(bot);
        var mine = await QueuedConversationAsync(bot);
        var theirs = await QueuedConversationAsync(bot);
        var closed = await QueuedConversationAsync(bot);
        await (await a.Client.InboxActAsync(mine, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        await (await b.Client.InboxActAsync(theirs, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        await (await a.Client.InboxActAsync(closed, "close")).AssertStatusAsync(HttpStatusCode.OK);

        var queue = await a.Client.InboxAsync("queue");
        Assert.Equal([queued], queue.Ids);
        Assert.Equal([mine], (await a.Client.InboxAsync("mine")).Ids);
        Assert.Equal([theirs], (await b.Client.InboxAsync("mine")).Ids);
        var all = await a.Client.InboxAsync("all");
        Assert.Equal([theirs, mine, queued, withBot], all.Ids); // newest activity first
        Assert.Equal(1, all.Counts["queue"]!.GetValue<int>());
        Assert.Equal(1, all.Counts["mine"]!.GetValue<int>());
        Assert.Equal(4, all.Counts["all"]!.GetValue<int>());
        Assert.Equal(all.Counts.ToJsonString(), queue.Counts.ToJsonString());

        var defaultView = await a.Client.GetAsync("/v1/inbox/conversations");
        Assert.Equal([queued], (await defaultView.JsonAsync())["data"]!.AsArray().Select(c => c!.Str("conversation_id")));
        await (await a.Client.GetAsync("/v1/inbox/conversations?view=everything")).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task The_inbox_is_for_logged_in_agents()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var conversationId = await QueuedConversationAsync(bot);
        using var anonymous = _hub.CreateClient();
        using var admin = _hub.Admin();

        await (await anonymous.GetAsync("/v1/inbox/conversations")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await (await anonymous.InboxActAsync(conversationId, "claim")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await (await bot.Client.GetAsync("/v1/inbox/conversations")).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await admin.InboxActAsync(conversationId, "claim")).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        using var bogus = _hub.WithToken("hub_at_not-a-session");
        await (await bogus.GetAsync("/v1/inbox/conversations")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("pending_human", await bot.Client.StatusAsync(conversationId));
    }

    [Fact]
    public async Task A_claim_assigns_the_conversation_and_another_agents_claim_is_a_conflict()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var a = await _hub.CreateAgentAsync([bot.Id]);
        var b = await _hub.CreateAgentAsync([bot.Id]);
        var conversationId = await QueuedConversationAsync(bot);

        var claimed = await a.Client.InboxActAsync(conversationId, "claim");

        await claimed.AssertStatusAsync(HttpStatusCode.OK);
        var conversation = await claimed.JsonAsync();
        Assert.Equal("human", conversation.Str("status"));
        Assert.Equal(a.Id, conversation.Str("assigned_agent_id"));
        Assert.Equal(a.Id, (await bot.Client.ConversationAsync(conversationId)).Str("assigned_agent_id"));
        var assigned = await _receiver.EventForAsync("conversation.assigned", conversationId);
        Assert.Equal(a.Id, assigned.Data.Str("assigned_agent_id"));
        Assert.Equal("pending_human", assigned.Data.Str("previous_status"));

        await (await b.Client.InboxActAsync(conversationId, "claim")).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        await (await b.Client.InboxActAsync(conversationId, "reply", new { text = "Me too" })).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        await (await b.Client.InboxActAsync(conversationId, "hand-back")).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        await (await b.Client.InboxActAsync(conversationId, "close")).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal(a.Id, (await bot.Client.ConversationAsync(conversationId)).Str("assigned_agent_id"));

        // Claiming again is harmless for the holder.
        await (await a.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        Assert.Single(await bot.Client.DeliveriesAsync(conversationId, "conversation.assigned"));
    }

    [Fact]
    public async Task Concurrent_claims_give_the_conversation_to_exactly_one_agent()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var agents = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => _hub.CreateAgentAsync([bot.Id])));
        var conversationId = await QueuedConversationAsync(bot);

        var responses = await Task.WhenAll(agents.Select(a => a.Client.InboxActAsync(conversationId, "claim")));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(3, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        var winner = agents[Array.FindIndex(responses, r => r.StatusCode == HttpStatusCode.OK)];
        Assert.Equal(winner.Id, (await bot.Client.ConversationAsync(conversationId)).Str("assigned_agent_id"));
    }

    [Fact]
    public async Task A_reply_is_stored_from_human_with_zero_usage_and_delivered_as_message_reply()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var conversationId = await QueuedConversationAsync(bot);
        await (await agent.Client.InboxActAsync(conversationId, "reply", new { text = "Too early" }))
            .AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);

        var response = await agent.Client.InboxActAsync(conversationId, "reply", new { text = "Hi, I'm Ada. How can I help?" });

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var message = await response.JsonAsync();
        Assert.Equal("human", message.Str("from"));
        Assert.Equal("Hi, I'm Ada. How can I help?", message.Str("content"));
        var messages = await bot.Client.AllMessagesAsync(conversationId);
        Assert.Equal(["user", "human"], messages.Select(m => m.Str("from")));
        var stored = messages[1];
        Assert.Equal(message.Str("message_id"), stored.Str("message_id"));
        Assert.Equal(messages[0].Str("message_id"), stored.Str("reply_to"));
        Assert.Equal(0, stored["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());

        var webhook = await _receiver.EventForAsync("message.reply", conversationId);
        Assert.Equal("human", webhook.Data.Str("from"));
        Assert.Equal(message.Str("message_id"), webhook.Data.Str("message_id"));
        Assert.Equal("Hi, I'm Ada. How can I help?", webhook.Data.Text());
        Assert.Equal(0, webhook.Data["usage"]!["tokens"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(0, webhook.Data["usage"]!["tokens"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(0, webhook.Data["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());
        Assert.Equal(0d, webhook.Data["usage"]!["credits"]!["total_credits"]!.GetValue<double>());
        Assert.Equal(2, webhook.Data["sequence"]!.GetValue<int>());

        await (await agent.Client.InboxActAsync(conversationId, "reply", new { text = "" })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await (await agent.Client.InboxActAsync(conversationId, "reply", new { text = new string('x', 32_001) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Hand_back_returns_the_conversation_to_the_bot_which_answers_the_next_message()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var conversationId = await QueuedConversationAsync(bot);
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);

        var response = await agent.Client.InboxActAsync(conversationId, "hand-back");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var conversation = await response.JsonAsync();
        Assert.Equal("bot", conversation.Str("status"));
        Assert.Null(conversation["assigned_agent_id"]?.GetValue<string>());
        var handedBack = await _receiver.EventForAsync("conversation.handed_back", conversationId);
        Assert.Equal("human", handedBack.Data.Str("previous_status"));
        Assert.Empty((await agent.Client.InboxAsync("mine")).Ids);

        var answer = await bot.Client.SendMessageAsync(conversationId, InboxKit.KnownQuestion);

        await answer.AssertStatusAsync(HttpStatusCode.OK);
        var reply = await answer.JsonAsync();
        Assert.Equal("answered", reply.Str("status"));
        Assert.Equal("ai", reply.Str("from"));
        Assert.Equal(InboxKit.Knowledge[0], reply.Text());
    }

    [Fact]
    public async Task Close_ends_the_conversation_and_further_messages_are_refused()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var conversationId = await QueuedConversationAsync(bot);
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);

        var response = await agent.Client.InboxActAsync(conversationId, "close");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("closed", (await response.JsonAsync()).Str("status"));
        Assert.Equal("closed", await bot.Client.StatusAsync(conversationId));
        var closed = await _receiver.EventForAsync("conversation.closed", conversationId);
        Assert.Equal("human", closed.Data.Str("previous_status"));
        await (await bot.Client.SendMessageAsync(conversationId, "Hello again")).AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        Assert.DoesNotContain(conversationId, (await agent.Client.InboxAsync("all")).Ids);
    }

    [Fact]
    public async Task An_admin_agent_may_hand_back_or_close_a_conversation_another_agent_holds()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var supervisor = await _hub.CreateAgentAsync(role: "admin");
        var first = await QueuedConversationAsync(bot);
        var second = await QueuedConversationAsync(bot);
        await (await agent.Client.InboxActAsync(first, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.InboxActAsync(second, "claim")).AssertStatusAsync(HttpStatusCode.OK);

        await (await supervisor.Client.InboxActAsync(first, "claim")).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        await (await supervisor.Client.InboxActAsync(first, "hand-back")).AssertStatusAsync(HttpStatusCode.OK);
        await (await supervisor.Client.InboxActAsync(second, "close")).AssertStatusAsync(HttpStatusCode.OK);

        Assert.Equal("bot", await bot.Client.StatusAsync(first));
        Assert.Equal("closed", await bot.Client.StatusAsync(second));
    }

    [Fact]
    public async Task Unknown_conversations_are_not_found()
    {
        var agent = await _hub.CreateAgentAsync();
        foreach (var action in new[] { "claim", "hand-back", "close" })
            await (await agent.Client.InboxActAsync("conv_missing", action)).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }
}
