using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class UsageTests : IClassFixture<LlmHubFixture>
{
    private readonly HubFixture _hub;
    private readonly FakeOpenAiServer _llm;

    public UsageTests(LlmHubFixture fixture)
    {
        (_hub, _llm) = (fixture.Hub, fixture.Llm);
        _llm.Reset();
    }

    private static readonly object PricedBot = new
    {
        name = "Metered",
        pricing = new { input_credits_per_1k = 0.5, output_credits_per_1k = 1.5 },
    };

    private async Task<(HttpClient Client, string BotId, List<JsonObject> Replies)> BotWithRepliesAsync()
    {
        var (client, botId, conversationId) = await _hub.StartConversationAsync(PricedBot);
        var replies = new List<JsonObject>();
        foreach (var (prompt, completion) in new[] { (19, 10), (100, 50), (7, 3) })
        {
            _llm.PromptTokens = prompt;
            _llm.CompletionTokens = completion;
            var response = await client.SendMessageAsync(conversationId, $"Question with {prompt} tokens");
            await response.AssertStatusAsync(HttpStatusCode.OK);
            replies.Add(await response.JsonAsync());
        }
        return (client, botId, replies);
    }

    private static long Tokens(JsonNode usage, string kind) => usage["tokens"]![kind]!.GetValue<long>();
    private static double Credits(JsonNode usage, string kind) => usage["credits"]![kind]!.GetValue<double>();

    [Fact]
    public async Task Usage_totals_and_days_match_the_replies_usage()
    {
        var (client, botId, replies) = await BotWithRepliesAsync();

        var response = await client.GetAsync($"/v1/usage?bot_id={botId}&group_by=day");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var usage = await response.JsonAsync();
        Assert.Equal(3, usage["replies"]!.GetValue<long>());
        Assert.Equal(126, Tokens(usage, "prompt_tokens"));
        Assert.Equal(63, Tokens(usage, "completion_tokens"));
        Assert.Equal(189, Tokens(usage, "total_tokens"));
        foreach (var kind in new[] { "prompt_tokens", "completion_tokens", "total_tokens" })
            Assert.Equal(replies.Sum(r => Tokens(r["usage"]!, kind)), Tokens(usage, kind));
        Assert.Equal(126 * 0.5 / 1000, Credits(usage, "text_input_credits"), 9);
        Assert.Equal(63 * 1.5 / 1000, Credits(usage, "text_output_credits"), 9);
        Assert.Equal(126 * 0.5 / 1000 + 63 * 1.5 / 1000, Credits(usage, "total_credits"), 9);
        Assert.Equal(replies.Sum(r => Credits(r["usage"]!, "total_credits")), Credits(usage, "total_credits"), 9);

        var days = usage["data"]!.AsArray().Select(d => d!).ToList();
        Assert.NotEmpty(days);
        Assert.All(days, d => DateOnly.ParseExact(d.Str("date"), "yyyy-MM-dd", CultureInfo.InvariantCulture));
        Assert.Contains(days, d => d.Str("date") == DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
            || d.Str("date") == DateTime.UtcNow.AddMinutes(-5).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        Assert.Equal(3, days.Sum(d => d["replies"]!.GetValue<long>()));
        Assert.Equal(189, days.Sum(d => Tokens(d, "total_tokens")));
        Assert.Equal(Credits(usage, "total_credits"), days.Sum(d => Credits(d, "total_credits")), 9);
    }

    [Fact]
    public async Task A_bot_key_sees_only_its_own_bots_usage()
    {
        var (client, botId, _) = await BotWithRepliesAsync();
        var (other, otherBotId, _) = await BotWithRepliesAsync();

        var own = await (await client.GetAsync("/v1/usage")).JsonAsync();
        var foreign = await client.GetAsync($"/v1/usage?bot_id={otherBotId}");

        Assert.Equal(botId, own.Str("bot_id"));
        Assert.Equal(3, own["replies"]!.GetValue<long>());
        Assert.Equal(189, Tokens(own, "total_tokens"));
        await foreign.AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        other.Dispose();
    }

    [Fact]
    public async Task The_admin_sees_any_bots_usage_and_the_total()
    {
        var (_, botId, _) = await BotWithRepliesAsync();
        using var admin = _hub.Admin();

        var one = await (await admin.GetAsync($"/v1/usage?bot_id={botId}")).JsonAsync();
        var all = await (await admin.GetAsync("/v1/usage")).JsonAsync();

        Assert.Equal(189, Tokens(one, "total_tokens"));
        Assert.True(Tokens(all, "total_tokens") >= 189);
        Assert.True(all["replies"]!.GetValue<long>() >= 3);
    }

    [Fact]
    public async Task From_and_to_bound_the_period()
    {
        var (client, _, _) = await BotWithRepliesAsync();
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var lastYear = DateTime.UtcNow.AddYears(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

        var past = await (await client.GetAsync($"/v1/usage?from={lastYear}&to={DateTime.UtcNow.AddDays(-2):yyyy-MM-dd}")).JsonAsync();
        var current = await (await client.GetAsync($"/v1/usage?from={DateTime.UtcNow.AddDays(-1):yyyy-MM-dd}&to={today}")).JsonAsync();

        Assert.Equal(0, past["replies"]!.GetValue<long>());
        Assert.Equal(0, Tokens(past, "total_tokens"));
        Assert.Empty(past["data"]!.AsArray());
        Assert.Equal(3, current["replies"]!.GetValue<long>());
    }

    [Fact]
    public async Task Failed_replies_cost_nothing()
    {
        var (client, botId, conversationId) = await _hub.StartConversationAsync(PricedBot);
        _llm.FailAlwaysWith = 400;
        (await client.SendMessageAsync(conversationId, "This one fails")).Dispose();

        var usage = await (await client.GetAsync($"/v1/usage?bot_id={botId}")).JsonAsync();

        Assert.Equal(0, usage["replies"]!.GetValue<long>());
        Assert.Equal(0d, Credits(usage, "total_credits"));
    }
}
