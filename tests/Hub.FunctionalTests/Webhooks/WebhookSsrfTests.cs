using System.Net;
using System.Net.Http.Json;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Webhooks;

/// <summary>A hub on the short schedule with HUB_WEBHOOK_ALLOW_PRIVATE unset, as in production.</summary>
public sealed class PublicOnlyHubFixture : IAsyncLifetime
{
    public HubFixture Hub { get; } = HubFixture.With(WebhookHub.Settings(allowPrivate: false));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Hub.DisposeAsync();
}

/// <summary>Webhook URLs that reach loopback or private addresses are refused: at registration when the URL says so, and on connect when a name resolves there.</summary>
public sealed class WebhookSsrfTests(PublicOnlyHubFixture fixture) : IClassFixture<PublicOnlyHubFixture>
{
    private HubFixture Hub => fixture.Hub;

    [Theory]
    [InlineData("http://127.0.0.1:{port}/hook")]
    [InlineData("http://localhost/hook")]
    [InlineData("http://LOCALHOST:{port}/hook")]
    [InlineData("http://api.localhost/hook")]
    [InlineData("http://[::1]:{port}/hook")]
    [InlineData("http://[::ffff:127.0.0.1]/hook")]
    [InlineData("http://10.0.0.5/hook")]
    [InlineData("http://192.168.1.10/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://100.64.0.1/hook")]
    [InlineData("http://0.0.0.0/hook")]
    [InlineData("http://[fd00::1]/hook")]
    [InlineData("ftp://example.com/hook")]
    [InlineData("file:///etc/passwd")]
    // The same hosts spelled another way: the root dot, IDN full stops (U+3002, U+FF0E, U+FF61), full-width letters.
    [InlineData("http://localhost.:{port}/hook")]
    [InlineData("http://127.0.0.1.:{port}/hook")]
    [InlineData("http://127\u30020\u30020\u30021:{port}/hook")]
    [InlineData("http://127\uFF0E0\uFF0E0\uFF0E1:{port}/hook")]
    [InlineData("http://127\uFF610\uFF610\uFF611:{port}/hook")]
    [InlineData("http://\uFF4C\uFF4F\uFF43\uFF41\uFF4C\uFF48\uFF4F\uFF53\uFF54:{port}/hook")]
    [InlineData("http://10\u30020\u30020\u30025./hook")]
    public async Task Creating_a_bot_with_a_non_public_or_non_http_webhook_url_is_refused(string url)
    {
        using var admin = Hub.Admin();
        using var response = await admin.PostAsJsonAsync("/v1/bots",
            new { name = "Refused", webhook = new { url = url.Replace("{port}", "8080") } });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.NotNull(problem["errors"]?["webhook.url"]);
    }

    [Fact]
    public async Task Pointing_an_existing_bot_at_loopback_is_refused()
    {
        var bot = await Hub.CreateBotAsync(new { name = "Public", webhook = new { url = "https://crm.example.com/hook" } });
        using var admin = Hub.Admin();

        using var response = await admin.PatchAsJsonAsync($"/v1/bots/{bot["id"]}", new { webhook = new { url = "http://127.0.0.1:9/hook" } });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        var unchanged = await (await admin.GetAsync($"/v1/bots/{bot["id"]}")).JsonAsync();
        Assert.Equal("https://crm.example.com/hook", unchanged["webhook"]!.Value("url"));
    }

    [Fact]
    public async Task A_host_name_that_resolves_to_loopback_is_refused_when_dialled_and_nothing_reaches_the_receiver()
    {
        var host = LoopbackName.Find();
        var resolved = Dns.GetHostAddresses(host).Select(a => a.ToString()).ToList();
        await using var receiver = await WebhookReceiver.StartAsync();

        // A name cannot be judged before it is resolved, so registration accepts it...
        using var bot = await Hub.CreateWebhookBotAsync(receiver.UrlWithHost(host), ["conversation.created"]);
        await bot.NewConversationAsync();

        // ...and every try is refused at connect time, naming what the name resolved to.
        var delivery = (await bot.Client.ListDeliveriesAsync()).Items().Single().Value("delivery_id");
        var failed = await bot.Client.WaitForStatusAsync(delivery, "failed");
        var attempts = failed.Attempts();
        Assert.Equal(4, attempts.Count);
        Assert.All(attempts, a =>
        {
            Assert.Null(a["status_code"]);
            var error = a.Value("error");
            Assert.Contains("refused", error, StringComparison.OrdinalIgnoreCase);
            Assert.Contains(resolved, address => error.Contains(address));
        });
        Assert.Empty(receiver.Received);
    }
}
