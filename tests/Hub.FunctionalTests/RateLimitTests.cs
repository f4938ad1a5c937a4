using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class RateLimitedHubFixture : IAsyncLifetime
{
    public HubFixture Hub { get; } = HubFixture.With(new Dictionary<string, string?>
    {
        ["HUB_RATE_LIMIT_PER_SECOND"] = "1",
        ["HUB_RATE_LIMIT_BURST"] = "2",
    });

    public Task InitializeAsync() => ((IAsyncLifetime)Hub).InitializeAsync();
    public Task DisposeAsync() => ((IAsyncLifetime)Hub).DisposeAsync();
}

public sealed class RateLimitTests(RateLimitedHubFixture fixture) : IClassFixture<RateLimitedHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;

    [Fact]
    public async Task Requests_beyond_the_burst_are_429_rate_limited_with_retry_after_and_other_keys_are_not_affected()
    {
        var bot = await _hub.CreateBotAsync();
        using var admin = _hub.Admin();
        var second = await (await admin.PostAsync($"/v1/bots/{bot.Str("id")}/keys", null)).JsonAsync();
        using var busy = _hub.WithKey(bot.Str("api_key"));
        using var quiet = _hub.WithKey(second.Str("api_key"));

        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < 6 && responses.All(r => r.StatusCode != HttpStatusCode.TooManyRequests); i++)
            responses.Add(await busy.GetAsync("/v1/conversations"));
        var other = await quiet.GetAsync("/v1/conversations");

        await responses[0].AssertStatusAsync(HttpStatusCode.OK);
        await responses[1].AssertStatusAsync(HttpStatusCode.OK);
        var limited = responses[^1];
        await limited.AssertProblemAsync(HttpStatusCode.TooManyRequests, "rate_limited");
        var retryAfter = limited.Headers.RetryAfter;
        Assert.NotNull(retryAfter);
        Assert.True(retryAfter!.Delta >= TimeSpan.FromSeconds(1), $"Retry-After is a positive number of seconds, got {retryAfter}");
        await other.AssertStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Health_endpoints_are_not_rate_limited()
    {
        using var client = _hub.CreateClient();

        for (var i = 0; i < 6; i++)
        {
            await (await client.GetAsync("/healthz")).AssertStatusAsync(HttpStatusCode.OK);
            await (await client.GetAsync("/readyz")).AssertStatusAsync(HttpStatusCode.OK);
        }
    }
}
