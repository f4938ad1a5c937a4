using System.Net;
using System.Text.Json.Nodes;
using Hub.IntegrationTests.Infrastructure;

namespace Hub.IntegrationTests;

/// <summary>
/// Inbox events reach agents connected to any API process: one agent on API process A's SignalR hub, one on B's.
/// What happens through one process (a handoff, a user message, a claim, an agent's reply) or in the AI worker's
/// process (a bot reply) shows up live on the other. Each signal is consumed by one API process only (a competing
/// consumer); the SignalR Redis backplane (HUB_REDIS) carries the push to the other process's connections.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class InboxFanOutTests(RedisClusterFixture fixture)
{
    private static bool Is(JsonObject o, string field, string value) => o[field]?.GetValue<string>() == value;

    [Fact]
    public async Task Handoff_and_agent_reply_made_through_one_api_process_reach_the_agent_on_the_other()
    {
        var (a, b) = (fixture.ApiA, fixture.ApiB);
        var admin = fixture.Cluster.Admin(a);
        var (botId, key) = await admin.CreateBotAsync(webhookUrl: fixture.Cluster.Receiver.Url, handoffKeywords: ["human"]);
        // Both agents are limited to this bot, so they hear nothing of the other tests' conversations.
        var alice = await admin.CreateAgentAsync("alice", botId);
        var bob = await admin.CreateAgentAsync("bob", botId);
        await using var aliceOnA = await InboxClient.ConnectAsync(a, await new HubClient(a, null).LoginAsync(alice.Email, alice.Password), "alice@A");
        await using var bobOnB = await InboxClient.ConnectAsync(b, await new HubClient(b, null).LoginAsync(bob.Email, bob.Password), "bob@B");

        // Through A: the conversation is handed off, then the user writes again. Bob, on B, sees both live.
        var botOnA = new HubClient(a, key);
        var conversation = await botOnA.CreateConversationAsync("u-inbox");
        await botOnA.PostOkAsync($"/v1/conversations/{conversation}/handoff", new JsonObject { ["reason"] = "asked for a person" });
        await bobOnB.WaitForAsync("conversationUpdated", c => Is(c, "conversation_id", conversation) && Is(c, "status", "pending_human"));

        using (var sent = await botOnA.SendMessageAsync(conversation, "Is anyone there?", "webhook"))
            Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);
        await bobOnB.WaitForAsync("messageCreated", m => Is(m, "conversation_id", conversation) && Is(m, "from", "user")
                                                           && Is(m, "content", "Is anyone there?"));

        // Through B's hub: Bob claims and replies. Alice, on A, sees both live.
        var claimed = await bobOnB.InvokeAsync("Claim", conversation);
        Assert.True(claimed["error"] is null, claimed.ToJsonString());
        var bobsId = claimed["result"]!["assigned_agent_id"]!.GetValue<string>();
        await aliceOnA.WaitForAsync("conversationUpdated", c => Is(c, "conversation_id", conversation) && Is(c, "status", "human")
                                                                && Is(c, "assigned_agent_id", bobsId));

        var replied = await bobOnB.InvokeAsync("Reply", conversation, "Bob here, how can I help?");
        Assert.True(replied["error"] is null, replied.ToJsonString());
        var created = await aliceOnA.WaitForAsync("messageCreated", m => Is(m, "conversation_id", conversation) && Is(m, "from", "human"));
        Assert.Equal("Bob here, how can I help?", created.Arg["content"]!.GetValue<string>());
        Assert.Equal(replied["result"]!["message_id"]!.GetValue<string>(), created.Arg["message_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_bot_reply_produced_by_the_worker_process_reaches_agents_on_both_api_processes()
    {
        var (a, b) = (fixture.ApiA, fixture.ApiB);
        var admin = fixture.Cluster.Admin(a);
        var (botId, key) = await admin.CreateBotAsync(webhookUrl: fixture.Cluster.Receiver.Url);
        var carol = await admin.CreateAgentAsync("carol", botId);
        var dave = await admin.CreateAgentAsync("dave", botId);
        await using var carolOnA = await InboxClient.ConnectAsync(a, await new HubClient(a, null).LoginAsync(carol.Email, carol.Password), "carol@A");
        await using var daveOnB = await InboxClient.ConnectAsync(b, await new HubClient(b, null).LoginAsync(dave.Email, dave.Password), "dave@B");

        // The user writes through A; the worker (a process of its own) answers. Both agents watch the bot live.
        var botOnA = new HubClient(a, key);
        var conversation = await botOnA.CreateConversationAsync("u-inbox-reply");
        using (var sent = await botOnA.SendMessageAsync(conversation, "Where is my parcel?", "webhook"))
            Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);

        var expected = fixture.Cluster.Llm.ReplyTo("Where is my parcel?");
        foreach (var agent in new[] { daveOnB, carolOnA })
        {
            await agent.WaitForAsync("messageCreated", m => Is(m, "conversation_id", conversation) && Is(m, "from", "user"));
            var reply = await agent.WaitForAsync("messageCreated", m => Is(m, "conversation_id", conversation) && Is(m, "from", "ai"));
            Assert.Equal(expected, reply.Arg["content"]!.GetValue<string>());
        }

        // The backplane's channels carry the cluster's HUB_REDIS_PREFIX like everything else Hub keeps in Redis.
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(fixture.Cluster.Redis!);
        var channels = await redis.GetServers().Single().SubscriptionChannelsAsync(
            StackExchange.Redis.RedisChannel.Pattern(fixture.Cluster.RedisPrefix + "Hub.Api.Inbox.InboxHub:*"));
        Assert.NotEmpty(channels);
    }
}
