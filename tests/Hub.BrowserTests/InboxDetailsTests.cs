using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hub.BrowserTests.Infrastructure;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Hub.BrowserTests;

/// <summary>Smaller stories around the handoff: a failing webhook and its Retry, closing, the admin view.</summary>
[Collection(InboxCollection.Name)]
public sealed class InboxDetailsTests(InboxFixture fixture, ITestOutputHelper output)
{
    private const string Password = "correct horse battery staple";

    [Fact]
    public async Task A_failed_reply_delivery_is_shown_and_retried_from_the_thread()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var hook = $"failing-{run}";
        fixture.Receiver.AnswerWith(hook, 500);
        var (api, id) = await HandedOffConversationAsync(run, fixture.Receiver.UrlFor(hook));
        await using var a = await LoggedInAgentAsync(run, "dave", role: "agent", api.BotId);

        await a.Conversation(id).ClickAsync();
        await a.TestId("claim").ClickAsync();
        await Expect(a.TestId("thread-status")).ToHaveAttributeAsync("data-status", "human");
        await a.TestId("composer").FillAsync("Sorry for the wait.");
        await a.TestId("send").ClickAsync();

        // The endpoint answers 500 to every attempt (schedule 1s,2s,2s in these tests): the reply ends up failed.
        var status = a.Messages("human").GetByTestId("delivery-status");
        await Expect(status).ToHaveAttributeAsync("data-status", "failed", new() { Timeout = 45_000 });
        await Expect(status).ToContainTextAsync("500");
        Assert.True(fixture.Receiver.ReceivedAt(hook).Count >= 2, "the hub should have retried before giving up");

        // The endpoint recovers; Retry in the thread delivers it.
        fixture.Receiver.AnswerWith(hook, 200);
        await a.TestId("delivery-retry").ClickAsync();
        await Expect(status).ToHaveAttributeAsync("data-status", "delivered", new() { Timeout = 45_000 });
        await Expect(a.TestId("error")).ToBeHiddenAsync();
        var last = fixture.Receiver.ReceivedAt(hook)[^1];
        Assert.Equal("message.reply", last.Type);
        Assert.Equal("human", last.Data["from"]!.GetValue<string>());
        api.Client.Dispose();
    }

    [Fact]
    public async Task An_agent_closes_a_claimed_conversation_and_the_user_can_no_longer_write()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var (api, id) = await HandedOffConversationAsync(run, webhookUrl: null);
        await using var a = await LoggedInAgentAsync(run, "erin", role: "agent", api.BotId);

        await Expect(a.TestId("count-all")).ToHaveTextAsync("1");
        await a.Conversation(id).ClickAsync();
        await a.TestId("claim").ClickAsync();
        await Expect(a.TestId("hand-back")).ToBeVisibleAsync();
        await a.TestId("close").ClickAsync();
        await Expect(a.TestId("thread-status")).ToHaveAttributeAsync("data-status", "closed");
        await Expect(a.TestId("count-all")).ToHaveTextAsync("0");
        await Expect(a.TestId("count-mine")).ToHaveTextAsync("0");
        await Expect(a.TestId("composer")).ToBeDisabledAsync();
        await Expect(a.TestId("close")).ToBeHiddenAsync();

        using var response = await api.Client.PostAsJsonAsync($"/v1/conversations/{id}/messages", new { content = "Hello?", response_mode = "blocking" });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 409, $"a message to a closed conversation: {(int)response.StatusCode} {body}");
        Assert.Contains("conversation_closed", body);
        api.Client.Dispose();
    }

    [Fact]
    public async Task An_admin_sees_the_bots_and_the_usage_chart()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var bot = await fixture.CreateBotAsync(new JsonObject
        {
            ["name"] = $"Usage {run}",
            ["knowledge"] = new JsonArray("Orders ship within 2 business days."),
            ["pricing"] = new JsonObject { ["input_credits_per_1k"] = 0.5, ["output_credits_per_1k"] = 1.5 },
        });
        var botId = bot["id"]!.GetValue<string>();
        using (var api = fixture.Hub.Client(bot["api_key"]!.GetValue<string>()))
        {
            var conversation = await api.PostJsonAsync("/v1/conversations", new { user_id = $"u-{run}" }, 201);
            var answered = await api.PostJsonAsync($"/v1/conversations/{conversation["conversation_id"]}/messages",
                new { content = "When do orders ship?", response_mode = "blocking" }, 200);
            Assert.Equal("answered", answered["status"]?.GetValue<string>());
        }

        await using var admin = await LoggedInAgentAsync(run, "frank", role: "admin", botId: null);
        await admin.TestId("tab-admin").ClickAsync();
        await Expect(admin.TestId("admin")).ToBeVisibleAsync();
        var row = admin.Page.Locator($"[data-testid='bot-row'][data-bot-id='{botId}']");
        await Expect(row).ToContainTextAsync($"Usage {run}");
        await admin.TestId("usage-bot").SelectOptionAsync(botId);
        await Expect(admin.TestId("usage-totals")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"\b1 AI repl(y|ies)\b"));
        await Expect(admin.TestId("usage-chart").Locator("svg")).ToBeVisibleAsync();
        await InboxFixture.SaveScreenshotAsync(admin.Page, "inbox-admin.png");
    }

    private sealed record BotClient(HttpClient Client, string BotId);

    /// <summary>A bot (handoff keyword "human", optional webhook) and one conversation the user handed off.</summary>
    private async Task<(BotClient Api, string ConversationId)> HandedOffConversationAsync(string run, string? webhookUrl)
    {
        var body = new JsonObject
        {
            ["name"] = $"Support {run}",
            ["handoff"] = new JsonObject { ["keywords"] = new JsonArray("human") },
        };
        if (webhookUrl is not null) body["webhook"] = new JsonObject { ["url"] = webhookUrl };
        var bot = await fixture.CreateBotAsync(body);
        var client = fixture.Hub.Client(bot["api_key"]!.GetValue<string>());
        var conversation = await client.PostJsonAsync("/v1/conversations", new { user_id = $"u-{run}" }, 201);
        var id = conversation["conversation_id"]!.GetValue<string>();
        var handedOff = await client.PostJsonAsync($"/v1/conversations/{id}/messages", new { content = "A human, please.", response_mode = "blocking" }, 202);
        Assert.Equal("handed_off", handedOff["status"]?.GetValue<string>());
        return (new BotClient(client, bot["id"]!.GetValue<string>()), id);
    }

    private async Task<AgentBrowser> LoggedInAgentAsync(string run, string name, string role, string? botId)
    {
        var email = $"{name}-{run}@example.com";
        using (var admin = fixture.Hub.Admin())
            await admin.PostJsonAsync("/v1/agents", new { email, name = $"{name} {run}", password = Password, role, bot_ids = botId is null ? [] : new[] { botId } }, 201);
        var agent = await fixture.OpenInboxAsync(name, output);
        await agent.LogInAsync(email, Password);
        return agent;
    }
}
