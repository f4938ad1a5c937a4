using System.Net;
using Hub.FunctionalTests.Inbox;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Api;

/// <summary>
/// Every read path holds the caller to its bots: a bot key to its own, an agent to the bots it is limited to.
/// Asking for another bot is 403, never an answer about it and never a filter silently dropped.
/// </summary>
public sealed class ReaderScopeTests(HubFixture hub) : IClassFixture<HubFixture>
{
    private async Task<(HttpClient Client, string BotId, string ConversationId)> BotWithOneReplyAsync()
    {
        var (client, botId, conversationId) = await hub.StartConversationAsync();
        var reply = await client.SendMessageAsync(conversationId, "When do orders ship?");
        await reply.AssertStatusAsync(HttpStatusCode.OK);
        return (client, botId, conversationId);
    }

    [Fact]
    public async Task An_agent_limited_to_one_bot_cannot_read_another_bots_usage()
    {
        var (_, botA, _) = await BotWithOneReplyAsync();
        var (_, botB, _) = await BotWithOneReplyAsync();
        var agent = await hub.CreateAgentAsync([botA]);

        var foreign = await agent.Client.GetAsync($"/v1/usage?bot_id={botB}");
        var own = await agent.Client.GetAsync($"/v1/usage?bot_id={botA}");

        await foreign.AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await own.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal(1, (await own.JsonAsync())["replies"]!.GetValue<long>());
    }

    [Fact]
    public async Task Without_bot_id_an_agent_sees_only_its_own_bots_totals()
    {
        var (_, botA, _) = await BotWithOneReplyAsync();
        var (_, botB, _) = await BotWithOneReplyAsync();
        await BotWithOneReplyAsync(); // a third bot the agent is not limited to
        var agent = await hub.CreateAgentAsync([botA, botB]);
        using var admin = hub.Admin();

        var mine = await (await agent.Client.GetAsync("/v1/usage")).JsonAsync();
        var a = await (await admin.GetAsync($"/v1/usage?bot_id={botA}")).JsonAsync();
        var b = await (await admin.GetAsync($"/v1/usage?bot_id={botB}")).JsonAsync();
        var all = await (await admin.GetAsync("/v1/usage")).JsonAsync();

        Assert.Equal(2, mine["replies"]!.GetValue<long>());
        Assert.Equal(a["tokens"]!["total_tokens"]!.GetValue<long>() + b["tokens"]!["total_tokens"]!.GetValue<long>(),
            mine["tokens"]!["total_tokens"]!.GetValue<long>());
        Assert.True(all["replies"]!.GetValue<long>() >= 3);
    }

    [Fact]
    public async Task An_agent_asking_for_another_bots_deliveries_or_conversations_is_refused()
    {
        var (_, botA, _) = await BotWithOneReplyAsync();
        var (_, botB, _) = await BotWithOneReplyAsync();
        var agent = await hub.CreateAgentAsync([botA]);

        var deliveries = await agent.Client.GetAsync($"/v1/deliveries?bot_id={botB}");
        var conversations = await agent.Client.GetAsync($"/v1/conversations?bot_id={botB}");
        var ownDeliveries = await agent.Client.GetAsync($"/v1/deliveries?bot_id={botA}");
        var ownConversations = await agent.Client.GetAsync($"/v1/conversations?bot_id={botA}");

        await deliveries.AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await conversations.AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await ownDeliveries.AssertStatusAsync(HttpStatusCode.OK);
        await ownConversations.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Single((await ownConversations.JsonAsync())["data"]!.AsArray());
    }

    [Fact]
    public async Task A_bot_key_asking_for_another_bots_conversations_is_refused()
    {
        var (client, botId, conversationId) = await hub.StartConversationAsync();
        var (_, otherBotId, _) = await hub.StartConversationAsync();

        var foreign = await client.GetAsync($"/v1/conversations?bot_id={otherBotId}");
        var own = await client.GetAsync($"/v1/conversations?bot_id={botId}");

        await foreign.AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await own.AssertStatusAsync(HttpStatusCode.OK);
        var listed = (await own.JsonAsync())["data"]!.AsArray().Select(c => c!.Str("conversation_id")).ToList();
        Assert.Equal([conversationId], listed);
    }
}
