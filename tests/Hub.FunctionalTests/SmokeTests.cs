using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class SmokeTests(HubFixture hub) : IClassFixture<HubFixture>
{
    [Fact]
    public async Task Blocking_message_is_answered_from_the_bots_knowledge()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendMessageAsync(conversationId, "When does my order ship?");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal("answered", body["status"]!.GetValue<string>());
        Assert.Equal("Orders ship within 2 business days.", body["output"]![0]!["content"]!["text"]!.GetValue<string>());
    }
}
