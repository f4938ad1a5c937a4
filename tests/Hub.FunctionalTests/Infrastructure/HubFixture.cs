using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Hub.FunctionalTests.Infrastructure;

/// <summary>
/// Hub in-process on its embedded defaults (SQLite file, in-memory bus, offline LLM unless a test sets
/// HUB_LLM_BASE_URL). Settings go through UseSetting so that code reading configuration while the
/// builder is still being set up (roles, bus) sees them.
/// </summary>
public sealed class HubFixture : WebApplicationFactory<Program>, IAsyncLifetime
{
    public const string AdminKey = "test-admin-key";

    public HubFixture() => DatabasePath = NewDatabasePath();

    /// <summary>A hub with extra settings, optionally on an existing database (a "restart").</summary>
    public static HubFixture With(IDictionary<string, string?> settings, string? databasePath = null)
    {
        var hub = new HubFixture();
        foreach (var (k, v) in settings) hub.Settings[k] = v;
        if (databasePath is not null) hub.DatabasePath = databasePath;
        return hub;
    }

    public string DatabasePath { get; private set; }
    public Dictionary<string, string?> Settings { get; } = new();

    /// <summary>Also log to this provider (set before the server starts), for tests about what is logged.</summary>
    public Microsoft.Extensions.Logging.ILoggerProvider? LogProvider { get; set; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("HUB_ADMIN_KEY", AdminKey);
        builder.UseSetting("HUB_DATABASE", "sqlite");
        builder.UseSetting("HUB_DATABASE_CONNECTION", $"Data Source={DatabasePath}");
        builder.UseSetting("HUB_RATE_LIMIT_PER_SECOND", "100000");
        builder.UseSetting("HUB_RATE_LIMIT_BURST", "100000");
        foreach (var (key, value) in Settings) builder.UseSetting(key, value);
        if (LogProvider is { } provider)
            builder.ConfigureServices(s => s.AddSingleton(provider));
    }

    public HttpClient Admin()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return client;
    }

    public HttpClient WithKey(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>
    /// A webhook URL nobody answers (RFC 6761 reserves <c>.invalid</c>): for tests that send in webhook mode, which
    /// needs a bot with a webhook URL (409 <c>webhook_not_configured</c> otherwise), but do not look at the delivery.
    /// </summary>
    public const string UnheardWebhookUrl = "https://hooks.example.invalid/hub";

    /// <summary>The default test bot, with <see cref="UnheardWebhookUrl"/>.</summary>
    public static readonly object WebhookBot = new
    {
        name = "Support",
        knowledge = new[] { "Orders ship within 2 business days.", "Returns are free for 30 days." },
        fallback_text = "I don't know that yet.",
        webhook = new { url = UnheardWebhookUrl },
    };

    /// <summary>Creates a bot (admin) and returns its JSON, with <c>api_key</c>.</summary>
    public async Task<JsonObject> CreateBotAsync(object? body = null)
    {
        using var admin = Admin();
        var response = await admin.PostAsJsonAsync("/v1/bots", body ?? new
        {
            name = "Support",
            knowledge = new[] { "Orders ship within 2 business days.", "Returns are free for 30 days." },
            fallback_text = "I don't know that yet.",
        });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <summary>A bot, a client with its key, and one conversation.</summary>
    public async Task<(HttpClient Client, string BotId, string ConversationId)> StartConversationAsync(object? bot = null)
    {
        var created = await CreateBotAsync(bot);
        var client = WithKey(created["api_key"]!.GetValue<string>());
        var response = await client.PostAsJsonAsync("/v1/conversations", new { user_id = "u-42" });
        response.EnsureSuccessStatusCode();
        var conversation = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return (client, created["id"]!.GetValue<string>(), conversation["conversation_id"]!.GetValue<string>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    private bool _keepDatabase;

    /// <summary>Stops the hub and deletes its database file, unless it was stopped with <see cref="StopKeepingDatabaseAsync"/>.</summary>
    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (!_keepDatabase) DeleteDatabase(DatabasePath);
    }

    /// <summary>Stops the hub but keeps its database, so that another hub can start on it (a restart).</summary>
    public ValueTask StopKeepingDatabaseAsync()
    {
        _keepDatabase = true;
        return DisposeAsync();
    }

    /// <summary>A fresh database file name, for tests that start several hubs on one database.</summary>
    public static string NewDatabasePath() => Path.Combine(Path.GetTempPath(), $"hub-test-{Guid.NewGuid():N}.db");

    public static void DeleteDatabase(string path)
    {
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}"))
            Microsoft.Data.Sqlite.SqliteConnection.ClearPool(connection);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            try { File.Delete(path + suffix); } catch (IOException) { }
    }
}

public static class HttpJson
{
    public static async Task<JsonObject> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    public static Task<HttpResponseMessage> SendMessageAsync(this HttpClient client, string conversationId, string content,
        string mode = "blocking", string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/conversations/{conversationId}/messages")
        {
            Content = JsonContent.Create(new { content, response_mode = mode }),
        };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }
}
