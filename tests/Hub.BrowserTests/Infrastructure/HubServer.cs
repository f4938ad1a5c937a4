using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Hub.BrowserTests.Infrastructure;

/// <summary>
/// The whole hub (api, ai-worker, dispatcher; SQLite file, in-memory bus, offline LLM) in-process on a real
/// Kestrel socket at http://127.0.0.1:{port chosen by the OS}, so a browser can reach it. It serves the inbox
/// page from AppContext.BaseDirectory/inbox, which the Hub.Api project reference copies into this output.
/// </summary>
public sealed class HubServer : WebApplicationFactory<Program>
{
    public const string AdminKey = "browser-test-admin-key";

    public HubServer() => UseKestrel(0);

    public string DatabasePath { get; } = Path.Combine(Path.GetTempPath(), $"hub-browser-{Guid.NewGuid():N}.db");

    /// <summary>Where the hub listens, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public static string InboxFolder => Path.Combine(AppContext.BaseDirectory, "inbox");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("HUB_URLS", "http://127.0.0.1:0");
        builder.UseSetting("HUB_ADMIN_KEY", AdminKey);
        builder.UseSetting("HUB_DATABASE", "sqlite");
        builder.UseSetting("HUB_DATABASE_CONNECTION", $"Data Source={DatabasePath}");
        builder.UseSetting("HUB_TRANSPORT", "inmemory");
        builder.UseSetting("HUB_WEBHOOK_ALLOW_PRIVATE", "true");
        builder.UseSetting("HUB_WEBHOOK_RETRY_SCHEDULE", "1s,2s,2s");
        builder.UseSetting("HUB_WEBHOOK_POLL_MS", "100");
        builder.UseSetting("HUB_RATE_LIMIT_PER_SECOND", "100000");
        builder.UseSetting("HUB_RATE_LIMIT_BURST", "100000");
        // The hub must not pick up a developer's real LLM from the environment: the offline provider answers.
        builder.UseSetting("HUB_LLM_BASE_URL", "");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
    }

    public void Start()
    {
        if (!File.Exists(Path.Combine(InboxFolder, "index.html")))
            throw new InvalidOperationException(
                $"The inbox page is not in {InboxFolder}: building Hub.Api should have built web-inbox (npm ci && npm run build) " +
                "and copied web-inbox/dist there. Is npm on PATH? Build again without -p:WebInboxBuild=false.");

        StartServer();
        var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var address = addresses.FirstOrDefault(a => a.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)) ?? addresses.First();
        BaseAddress = new Uri(address.TrimEnd('/') + "/");
    }

    /// <summary>An HTTP client over the real socket, with a bearer key (admin or a bot's).</summary>
    public HttpClient Client(string key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(90) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public HttpClient Admin() => Client(AdminKey);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            try { File.Delete(DatabasePath + suffix); } catch (IOException) { }
    }
}

public static class HttpJson
{
    public static async Task<JsonObject> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    /// <summary>POSTs JSON and insists on a status, showing the body when it differs.</summary>
    public static async Task<JsonObject> PostJsonAsync(this HttpClient client, string path, object body, int expectedStatus)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expectedStatus,
            $"POST {path} answered {(int)response.StatusCode}, expected {expectedStatus}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }
}
