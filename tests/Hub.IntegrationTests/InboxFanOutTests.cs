using System.Net;
using System.Text.Json.Nodes;
using Hub.IntegrationTests.Infrastructure;

namespace Hub.IntegrationTests;

/// <summary>
/// Inbox events reach agents connected to any API process: one agent on API process A's SignalR hub, one on B's.
/// What happens through one process (a handoff, a user message, a claim, an agent's reply) shows up live on the other.
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
}
