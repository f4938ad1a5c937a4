using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Inbox;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Api;

/// <summary>Inputs at the edges of the contract: extreme dates, characters outside the BMP, paging, a mode with nowhere to go.</summary>
public sealed class ApiInputTests(HubFixture hub) : IClassFixture<HubFixture>
{
    private const string Emoji = "\U0001F600"; // one character, two UTF-16 code units, four UTF-8 bytes

    /// <summary>The body as raw UTF-8 (not \u-escaped), so that 32,000 emoji stay within the 256 KiB body limit.</summary>
    private static Task<HttpResponseMessage> SendRawAsync(HttpClient client, string conversationId, string content, string mode = "blocking")
    {
        var body = new ByteArrayContent(Encoding.UTF8.GetBytes($"{{\"content\":\"{content}\",\"response_mode\":\"{mode}\"}}"));
        body.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return client.PostAsync($"/v1/conversations/{conversationId}/messages", body);
    }

    [Theory]
    [InlineData("?to=0001-01-01")]
    [InlineData("?to=9999-12-31")]
    [InlineData("?from=9999-12-31")]
    [InlineData("?from=0001-01-01&to=0001-01-02")]
    [InlineData("?to=0001-01-01T00:00:00Z")]
    [InlineData("?to=9999-12-31T23:59:59Z")]
    [InlineData("?from=2026-03-01&to=2026-02-01")]
    [InlineData("?from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z")]
    public async Task Usage_periods_out_of_range_or_reversed_are_400_not_500(string query)
    {
        var (client, _, _) = await hub.StartConversationAsync();

        var response = await client.GetAsync("/v1/usage" + query);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Theory]
    [InlineData("?updated_after=0001-01-01T00:00:00%2B01:00")]
    [InlineData("?updated_after=9999-12-31T23:59:59-01:00")]
    [InlineData("?updated_after=0001-01-01")]
    [InlineData("?updated_after=9999-12-31T23:59:59Z")]
    public async Task Extreme_updated_after_times_never_cause_a_500(string query)
    {
        var (client, _, _) = await hub.StartConversationAsync();

        var response = await client.GetAsync("/v1/conversations" + query);

        Assert.True((int)response.StatusCode is 200 or 400, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        if (response.StatusCode == HttpStatusCode.BadRequest) await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Content_is_counted_in_characters_not_utf16_units()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var twentyThousand = await SendRawAsync(client, conversationId, string.Concat(Enumerable.Repeat(Emoji, 20_000)));
        var thirtyTwoThousand = await SendRawAsync(client, conversationId, string.Concat(Enumerable.Repeat(Emoji, 32_000)));
        var oneMore = await SendRawAsync(client, conversationId, string.Concat(Enumerable.Repeat(Emoji, 32_001)));

        await twentyThousand.AssertStatusAsync(HttpStatusCode.OK);
        await thirtyTwoThousand.AssertStatusAsync(HttpStatusCode.OK);
        var problem = await oneMore.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        Assert.NotNull(problem["errors"]?["content"]);
        var stored = (await client.AllMessagesAsync(conversationId)).Where(m => m.Str("from") == "user").ToList();
        Assert.Equal(2, stored.Count);
        Assert.Equal(20_000, stored[0].Str("content").EnumerateRunes().Count());
    }

    [Fact]
    public async Task An_agents_inbox_reply_is_counted_in_characters_too()
    {
        var bot = await hub.CreateInboxBotAsync();
        var agent = await hub.CreateAgentAsync([bot.Id]);
        var conversationId = await bot.NewConversationAsync();
        await (await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        Task<HttpResponseMessage> ReplyAsync(int emoji)
        {
            var body = new ByteArrayContent(Encoding.UTF8.GetBytes($"{{\"text\":\"{string.Concat(Enumerable.Repeat(Emoji, emoji))}\"}}"));
            body.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            return agent.Client.PostAsync($"/v1/inbox/conversations/{conversationId}/reply", body);
        }

        var twentyThousand = await ReplyAsync(20_000);
        var oneMore = await ReplyAsync(32_001);

        await twentyThousand.AssertStatusAsync(HttpStatusCode.OK);
        await oneMore.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Webhook_mode_on_a_bot_without_a_webhook_url_is_409_and_stores_nothing()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync(new { name = "No webhook" });

        var response = await client.SendMessageAsync(conversationId, "Where is my order?", mode: "webhook");

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "webhook_not_configured");
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task Webhook_mode_on_a_bot_not_subscribed_to_replies_is_409_and_stores_nothing()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync(new
        {
            name = "Received only",
            webhook = new { url = "https://hooks.example.invalid/hub", events = new[] { "message.received" } },
        });

        var response = await client.SendMessageAsync(conversationId, "Where is my order?", mode: "webhook");

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "webhook_not_configured");
        Assert.Empty(await client.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task Webhook_mode_through_the_admin_key_checks_the_conversations_bot()
    {
        var (_, _, conversationId) = await hub.StartConversationAsync(new { name = "No webhook either" });
        using var admin = hub.Admin();

        var response = await admin.SendMessageAsync(conversationId, "Where is my order?", mode: "webhook");

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "webhook_not_configured");
        Assert.Empty(await admin.AllMessagesAsync(conversationId));
    }

    [Fact]
    public async Task Bots_are_listed_in_pages_of_limit_each_once_in_one_stable_order()
    {
        var created = new List<string>();
        for (var i = 0; i < 5; i++) created.Add((await hub.CreateBotAsync(new { name = $"Paged {i}" })).Str("id"));
        using var admin = hub.Admin();

        var first = await (await admin.GetAsync("/v1/bots?limit=2")).JsonAsync();
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var response = await admin.GetAsync("/v1/bots?limit=2" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}"));
            await response.AssertStatusAsync(HttpStatusCode.OK);
            var page = await response.JsonAsync();
            var data = page["data"]!.AsArray();
            Assert.InRange(data.Count, 0, 2);
            seen.AddRange(data.Select(b => b!.Str("id")));
            cursor = page["next_cursor"]?.GetValue<string>();
            Assert.Equal(cursor is not null, page["has_more"]!.GetValue<bool>());
        } while (cursor is not null);

        Assert.Equal(2, first["data"]!.AsArray().Count);
        Assert.True(first["has_more"]!.GetValue<bool>());
        var whole = (await (await admin.GetAsync("/v1/bots?limit=100")).JsonAsync())["data"]!.AsArray().Select(b => b!.Str("id")).ToList();
        Assert.Equal(seen.Distinct().Count(), seen.Count);
        Assert.Equal(created.Order(), seen.Where(created.Contains).Order());
        // One stable order (creation time, then id for bots made in the same millisecond), page by page or whole.
        Assert.Equal(whole, seen);
    }

    [Theory]
    [InlineData("?limit=0")]
    [InlineData("?limit=101")]
    [InlineData("?limit=ten")]
    [InlineData("?cursor=garbage!!")]
    [InlineData("?cursor=Y29udjox")] // "conv:1": a conversations cursor is not a bots cursor
    public async Task Bad_bot_list_parameters_are_400_validation_failed(string query)
    {
        using var admin = hub.Admin();

        var response = await admin.GetAsync("/v1/bots" + query);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Json_errors_name_the_field_but_no_dotnet_type()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();
        var content = new StringContent("{\"content\": 123}", Encoding.UTF8, "application/json");

        var response = await client.PostAsync($"/v1/conversations/{conversationId}/messages", content);

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?["content"]);
        Assert.DoesNotContain("System.", problem.ToJsonString());
        Assert.DoesNotContain("Hub.", problem.ToJsonString());
    }
}
