using System.Net;
using System.Text.Json;
using Hub.FunctionalTests.Infrastructure;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;

namespace Hub.FunctionalTests.Inbox;

/// <summary>
/// The inbox hub through the official .NET SignalR client: replies as long as the content limit allows go
/// through, longer ones are refused with a clear error, and neither drops the agent's connection. Refusals
/// (404, 409) are answers, not errors in the log.
/// </summary>
public sealed class InboxHubLimitsTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;

    private static async Task<HubConnection> ConnectAsync(HubFixture hub, Agent agent)
    {
        var server = hub.Server;
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseAddress, "hubs/inbox?access_token=" + Uri.EscapeDataString(agent.Token)), o =>
            {
                o.Transports = HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                o.WebSocketFactory = async (context, ct) => await server.CreateWebSocketClient().ConnectAsync(context.Uri, ct);
            })
            .Build();
        await connection.StartAsync();
        return connection;
    }

    private async Task<(Agent Agent, string ConversationId)> ClaimedConversationAsync(HubFixture hub)
    {
        var bot = await hub.CreateInboxBotAsync();
        var agent = await hub.CreateAgentAsync([bot.Id]);
        var conversationId = await bot.NewConversationAsync();
        (await bot.Client.SendMessageAsync(conversationId, "I want a human")).EnsureSuccessStatusCode();
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        return (agent, conversationId);
    }

    [Theory]
    [InlineData(20_000, "é")]
    [InlineData(32_000, "é")]
    [InlineData(32_000, "😀")]
    [InlineData(32_000, "a")]
    public async Task A_reply_up_to_32000_characters_goes_through_the_hub_and_the_connection_stays_up(int length, string character)
    {
        var (agent, conversationId) = await ClaimedConversationAsync(_hub);
        await using var connection = await ConnectAsync(_hub, agent);
        var text = string.Concat(Enumerable.Repeat(character, length));

        var reply = await connection.InvokeAsync<JsonElement>("Reply", conversationId, text);

        Assert.Equal(text, reply.GetProperty("content").GetString());
        Assert.Equal("human", reply.GetProperty("from").GetString());
        Assert.Equal(HubConnectionState.Connected, connection.State);
        var after = await connection.InvokeAsync<JsonElement>("Reply", conversationId, "still here");
        Assert.Equal("still here", after.GetProperty("content").GetString());
    }

    [Theory]
    [InlineData(32_001, "é")]
    [InlineData(40_000, "é")]
    [InlineData(40_000, "😀")]
    public async Task A_reply_over_32000_characters_is_refused_with_a_clear_error_and_the_connection_stays_up(int length, string character)
    {
        var (agent, conversationId) = await ClaimedConversationAsync(_hub);
        await using var connection = await ConnectAsync(_hub, agent);

        var refused = await Assert.ThrowsAsync<HubException>(() =>
            connection.InvokeAsync<JsonElement>("Reply", conversationId, string.Concat(Enumerable.Repeat(character, length))));

        Assert.Contains("400 validation_failed: text must be 1 to 32,000 characters.", refused.Message);
        Assert.Equal(HubConnectionState.Connected, connection.State);
        var after = await connection.InvokeAsync<JsonElement>("Reply", conversationId, "still here");
        Assert.Equal("still here", after.GetProperty("content").GetString());
        var messages = await agent.Client.AllMessagesAsync(conversationId);
        Assert.DoesNotContain(messages, m => m.Str("content").Length > 32_000 * 2);
    }

    [Fact]
    public async Task Refusals_from_the_hub_are_not_logged_as_errors()
    {
        var capture = new LogCapture();
        await using var hub = HubFixture.With(InboxKit.Settings());
        hub.LogProvider = capture;
        var bot = await hub.CreateInboxBotAsync();
        var agent = await hub.CreateAgentAsync([bot.Id]);
        var other = await hub.CreateAgentAsync([bot.Id]);
        var conversationId = await bot.NewConversationAsync();
        await using var connection = await ConnectAsync(hub, agent);
        await using var otherConnection = await ConnectAsync(hub, other);

        var notFound = await Assert.ThrowsAsync<HubException>(() => connection.InvokeAsync<JsonElement>("Claim", "conv_does_not_exist"));
        await connection.InvokeAsync<JsonElement>("Claim", conversationId);
        var conflict = await Assert.ThrowsAsync<HubException>(() => otherConnection.InvokeAsync<JsonElement>("Claim", conversationId));

        Assert.Contains("404 not_found", notFound.Message);
        Assert.Contains("409 conflict", conflict.Message);
        Assert.Equal(HubConnectionState.Connected, connection.State);
        Assert.Empty(capture.AtLeast(LogLevel.Error).Select(e => $"{e.Level} {e.Category}: {e.Message}"));
    }
}
