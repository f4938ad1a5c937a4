using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

/// <summary>Options are bound and validated once at start: a bad value stops the process with the setting's name.</summary>
public sealed class OptionsTests
{
    [Theory]
    [InlineData("HUB_RATE_LIMIT_PER_SECOND", "-1")]
    [InlineData("HUB_RATE_LIMIT_BURST", "0")]
    [InlineData("HUB_CACHE_SECONDS", "abc")]
    [InlineData("HUB_CACHE_SECONDS", "-3")]
    [InlineData("HUB_ROLES", "api,webhooks")]
    [InlineData("HUB_REDIS_PREFIX", "two words")]
    [InlineData("HUB_TRANSPORT", "kafka")]
    [InlineData("HUB_SSE_PING_SECONDS", "0")]
    [InlineData("HUB_REPLY_REDRIVE_SECONDS", "soon")]
    [InlineData("HUB_AI_CONCURRENCY", "0")]
    [InlineData("HUB_LOG_FORMAT", "xml")]
    [InlineData("HUB_METRICS", "maybe")]
    public void A_bad_setting_stops_the_start_and_names_the_setting(string key, string value)
    {
        using var hub = HubFixture.With(new Dictionary<string, string?> { [key] = value });

        var error = Record.Exception(() => hub.CreateClient());

        Assert.NotNull(error);
        var messages = string.Join(" | ", Chain(error));
        Assert.Contains(key, messages);
    }

    [Fact]
    public async Task Good_settings_start_as_usual()
    {
        using var hub = HubFixture.With(new Dictionary<string, string?>
        {
            ["HUB_CACHE_SECONDS"] = "0",
            ["HUB_REDIS_PREFIX"] = "tenant-a:hub:",
            ["HUB_RATE_LIMIT_PER_SECOND"] = "5",
            ["HUB_ROLES"] = "api,ai-worker,dispatcher",
        });
        using var client = hub.CreateClient();

        Assert.True((await client.GetAsync("/healthz")).IsSuccessStatusCode);
    }

    private static IEnumerable<string> Chain(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            yield return e.Message;
            if (e is AggregateException aggregate)
                foreach (var inner in aggregate.InnerExceptions) foreach (var m in Chain(inner)) yield return m;
        }
    }
}
