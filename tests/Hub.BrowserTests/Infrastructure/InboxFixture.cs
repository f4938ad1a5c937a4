using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Hub.BrowserTests.Infrastructure;

[CollectionDefinition(Name)]
public sealed class InboxCollection : ICollectionFixture<InboxFixture>
{
    public const string Name = "inbox";
}

/// <summary>
/// One hub on a real socket, one webhook receiver and one headless Debian Chromium for the whole collection.
/// Tests make their own bot and agents (agents scoped to that bot), so they never see each other's
/// conversations.
/// </summary>
public sealed class InboxFixture : IAsyncLifetime
{
    /// <summary>
    /// Debian's Chromium, installed by scripts/services.sh; HUB_TEST_CHROMIUM may name another executable.
    /// Playwright's own browsers are never downloaded.
    /// </summary>
    public static string ChromiumPath =>
        Environment.GetEnvironmentVariable("HUB_TEST_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>How long locators and expectations wait: generous, these are not performance assertions.</summary>
    public const float Timeout = 20_000;

    public HubServer Hub { get; } = new();
    public WebhookReceiver Receiver { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // Fail, never skip: CI must notice a machine without the browser.
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException(
                $"{ChromiumPath} is missing. The browser tests drive Debian's Chromium: run scripts/services.sh " +
                "(or apt-get install chromium). Do not run `playwright install`.");

        Hub.Start();
        Receiver = await WebhookReceiver.StartAsync();
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        Assertions.SetDefaultExpectTimeout(Timeout);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        Playwright?.Dispose();
        if (Receiver is not null) await Receiver.DisposeAsync();
        await Hub.DisposeAsync();
    }

    /// <summary>A bot (admin API) with the given extra fields; returns its JSON with <c>api_key</c>.</summary>
    public async Task<JsonObject> CreateBotAsync(JsonObject body)
    {
        using var admin = Hub.Admin();
        return await admin.PostJsonAsync("/v1/bots", body, 201);
    }

    /// <summary>An agent (admin API) who sees only <paramref name="botId"/>'s conversations.</summary>
    public async Task<JsonObject> CreateAgentAsync(string email, string name, string password, string botId)
    {
        using var admin = Hub.Admin();
        return await admin.PostJsonAsync("/v1/agents",
            new { email, name, password, role = "agent", bot_ids = new[] { botId } }, 201);
    }

    /// <summary>A fresh browser context (its own cookies: one agent) at laptop size, on the inbox page.</summary>
    public async Task<AgentBrowser> OpenInboxAsync(string label, ITestOutputHelper output)
    {
        var context = await Browser.NewContextAsync(new()
        {
            BaseURL = Hub.BaseAddress.ToString(),
            ViewportSize = new() { Width = 1366, Height = 800 },
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        context.SetDefaultTimeout(Timeout);
        var page = await context.NewPageAsync();
        page.Console += (_, m) =>
        {
            // The page asks /v1/auth/me before anyone logs in: that 401 is expected.
            if (m.Type is ("error" or "warning") && !m.Text.Contains("status of 401"))
                output.WriteLine($"[{label} console {m.Type}] {m.Text}");
        };
        page.PageError += (_, e) => output.WriteLine($"[{label} page error] {e}");
        var response = await page.GotoAsync("inbox/");
        Assert.True(response is { Ok: true }, $"GET /inbox/ answered {response?.Status}");
        return new AgentBrowser(label, context, page);
    }

    /// <summary>Where screenshots go: the output's artifacts/ folder (and $HUB_TEST_ARTIFACTS when set). Returns the paths written.</summary>
    public static async Task<IReadOnlyList<string>> SaveScreenshotAsync(IPage page, string fileName)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, fileName);
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        var paths = new List<string> { path };
        if (Environment.GetEnvironmentVariable("HUB_TEST_ARTIFACTS") is { Length: > 0 } extra)
        {
            Directory.CreateDirectory(extra);
            var copy = Path.Combine(extra, fileName);
            File.Copy(path, copy, overwrite: true);
            paths.Add(copy);
        }
        return paths;
    }
}

/// <summary>One agent's browser context and page.</summary>
public sealed record AgentBrowser(string Label, IBrowserContext Context, IPage Page) : IAsyncDisposable
{
    public ILocator TestId(string id) => Page.GetByTestId(id);

    public ILocator Conversation(string conversationId) =>
        Page.Locator($"[data-testid='conversation-item'][data-conversation-id='{conversationId}']");

    public ILocator Messages(string from) => Page.Locator($"[data-testid='message'][data-from='{from}']");

    /// <summary>Logs in through the form and waits for the inbox to be live (the SignalR connection is up).</summary>
    public async Task LogInAsync(string email, string password)
    {
        await TestId("login-email").FillAsync(email);
        await TestId("login-password").FillAsync(password);
        await TestId("login-submit").ClickAsync();
        await Assertions.Expect(TestId("tab-queue")).ToBeVisibleAsync();
        // The connection state ("Live") is the page's role=status element in the top bar.
        await Assertions.Expect(Page.Locator("header [role='status']")).ToHaveTextAsync("Live");
    }

    public async ValueTask DisposeAsync() => await Context.CloseAsync();
}
