using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Infrastructure;
using Hub.TestSupport;

namespace Hub.FunctionalTests.Webhooks;

/// <summary>Settings of a hub whose webhooks go to loopback receivers on a schedule short enough for tests.</summary>
public static class WebhookHub
{
    public const string ShortSchedule = "100ms,200ms,300ms";

    public static Dictionary<string, string?> Settings(string schedule = ShortSchedule, bool allowPrivate = true)
    {
        var settings = new Dictionary<string, string?>
        {
            ["HUB_WEBHOOK_RETRY_SCHEDULE"] = schedule,
            ["HUB_WEBHOOK_POLL_MS"] = "50",
        };
        if (allowPrivate) settings["HUB_WEBHOOK_ALLOW_PRIVATE"] = "true";
        return settings;
    }

    public static HubFixture Start(string schedule = ShortSchedule, IDictionary<string, string?>? extra = null, string? databasePath = null)
    {
        var settings = Settings(schedule);
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>()) settings[k] = v;
        return HubFixture.With(settings, databasePath);
    }
}

/// <summary>One hub on the short schedule, shared by the tests of a class; each test brings its own receiver and bot.</summary>
public sealed class WebhookHubFixture : IAsyncLifetime
{
    public HubFixture Hub { get; } = WebhookHub.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Hub.DisposeAsync();
}

/// <summary>A bot as created for a webhook test: its id, its key (and a client with it) and its webhook secret.</summary>
public sealed record WebhookBot(string Id, string ApiKey, string Secret, HttpClient Client) : IDisposable
{
    public void Dispose() => Client.Dispose();
}

public static class WebhookTestKit
{
    public static readonly string[] Knowledge = ["Orders ship within 2 business days.", "Returns are free for 30 days."];

    /// <summary>A question the offline provider answers from <see cref="Knowledge"/>.</summary>
    public const string Question = "When do orders ship?";

    public static async Task<WebhookBot> CreateWebhookBotAsync(this HubFixture hub, string url, string[]? events = null,
        Action<JsonObject>? customise = null)
    {
        var webhook = new JsonObject { ["url"] = url };
        if (events is not null) webhook["events"] = new JsonArray(events.Select(e => (JsonNode)e).ToArray());
        var body = new JsonObject
        {
            ["name"] = "Webhook bot",
            ["knowledge"] = new JsonArray(Knowledge.Select(k => (JsonNode)k).ToArray()),
            ["fallback_text"] = "I don't know that yet.",
            ["webhook"] = webhook,
        };
        customise?.Invoke(body);
        var created = await hub.CreateBotAsync(body);
        var apiKey = created["api_key"]!.GetValue<string>();
        return new WebhookBot(created["id"]!.GetValue<string>(), apiKey, created["webhook"]!["secret"]!.GetValue<string>(), hub.WithKey(apiKey));
    }

    public static async Task<string> NewConversationAsync(this WebhookBot bot)
    {
        var response = await bot.Client.PostAsJsonAsync("/v1/conversations", new { user_id = "u-42" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync())["conversation_id"]!.GetValue<string>();
    }

    /// <summary>Sends a webhook-mode message; asserts the 202 and returns its <c>message_id</c>.</summary>
    public static async Task<string> SendWebhookMessageAsync(this WebhookBot bot, string conversationId, string content = Question)
    {
        using var response = await bot.Client.SendMessageAsync(conversationId, content, mode: "webhook");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await response.JsonAsync();
        Assert.Equal("accepted", accepted["status"]!.GetValue<string>());
        Assert.Equal(conversationId, accepted["conversation_id"]!.GetValue<string>());
        return accepted["message_id"]!.GetValue<string>();
    }

    public static async Task<JsonObject> GetDeliveryAsync(this HttpClient client, string deliveryId)
    {
        using var response = await client.GetAsync($"/v1/deliveries/{deliveryId}");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET delivery {deliveryId}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.JsonAsync();
    }

    /// <summary>Polls <c>GET /v1/deliveries/{id}</c> until <paramref name="done"/> holds.</summary>
    public static async Task<JsonObject> WaitForDeliveryAsync(this HttpClient client, string deliveryId, Func<JsonObject, bool> done, string waitingFor)
    {
        var deadline = DateTime.UtcNow + WebhookReceiver.DefaultWait;
        while (true)
        {
            var delivery = await client.GetDeliveryAsync(deliveryId);
            if (done(delivery)) return delivery;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Gave up waiting for {waitingFor}; last seen: {delivery.ToJsonString()}");
            await Task.Delay(50);
        }
    }

    public static Task<JsonObject> WaitForStatusAsync(this HttpClient client, string deliveryId, string status) =>
        client.WaitForDeliveryAsync(deliveryId, d => d.Value("status") == status, $"delivery {deliveryId} to be {status}");

    /// <summary>One page of <c>GET /v1/deliveries</c> with the given query.</summary>
    public static async Task<JsonObject> ListDeliveriesAsync(this HttpClient client, string query = "")
    {
        using var response = await client.GetAsync("/v1/deliveries" + (query.Length > 0 ? "?" + query : ""));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"list deliveries: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.JsonAsync();
    }

    public static string Value(this JsonNode node, string property) =>
        node[property]?.GetValue<string>() ?? throw new InvalidOperationException($"No '{property}' in {node.ToJsonString()}");

    public static IReadOnlyList<JsonObject> Items(this JsonObject page) => page["data"]!.AsArray().Select(d => d!.AsObject()).ToList();

    public static IReadOnlyList<JsonObject> Attempts(this JsonObject delivery) => delivery["attempts"]!.AsArray().Select(a => a!.AsObject()).ToList();

    /// <summary>
    /// The request is a Standard Webhooks delivery signed with <paramref name="secret"/> (checked with the
    /// tests' own verifier): POST JSON, the three headers, a fresh timestamp, a signature over the exact bytes.
    /// </summary>
    public static void AssertSignedBy(this ReceivedWebhook webhook, string secret)
    {
        Assert.Equal("POST", webhook.Method);
        Assert.StartsWith("application/json", webhook.Header("content-type"));
        Assert.False(string.IsNullOrEmpty(webhook.Header("webhook-id")), "webhook-id header missing");
        Assert.True(StandardWebhooksVerifier.TimestampIsFresh(webhook.Timestamp, DateTimeOffset.UtcNow),
            $"webhook-timestamp '{webhook.Timestamp}' is not Unix seconds close to now");
        Assert.All(StandardWebhooksVerifier.Signatures(webhook.Signature), s => Assert.StartsWith("v1,", s));
        Assert.True(StandardWebhooksVerifier.Verify(secret, webhook.Id, webhook.Timestamp, webhook.Body, webhook.Signature),
            $"webhook-signature '{webhook.Signature}' does not verify with the bot's secret over the body as received");
    }

    /// <summary>The body is exactly <c>{"type","timestamp","data"}</c>, with an RFC 3339 timestamp.</summary>
    public static JsonObject AssertEnvelope(this ReceivedWebhook webhook, string type)
    {
        var json = webhook.Json;
        Assert.Equal(["data", "timestamp", "type"], json.Select(p => p.Key).Order());
        Assert.Equal(type, json.Value("type"));
        Assert.True(DateTimeOffset.TryParse(json.Value("timestamp"), out _), $"timestamp '{json["timestamp"]}' is not a time");
        return json["data"]!.AsObject();
    }
}

/// <summary>A host name (not an IP literal, not "localhost") that resolves on this machine to loopback addresses only.</summary>
public static class LoopbackName
{
    private static readonly Lazy<string?> Found = new(Search);

    public static string Find() => Found.Value ?? throw new InvalidOperationException(
        "No host name on this machine resolves only to loopback: tried Dns.GetHostName(), localhost.localdomain and the "
        + "names in /etc/hosts. Add one (e.g. '127.0.0.1 hub-test-loopback' in /etc/hosts) to run this test.");

    private static string? Search()
    {
        var candidates = new List<string> { Dns.GetHostName(), "localhost.localdomain" };
        if (File.Exists("/etc/hosts"))
            candidates.AddRange(File.ReadLines("/etc/hosts")
                .Select(line => line.Split('#')[0].Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                .Where(fields => fields.Length > 1)
                .SelectMany(fields => fields.Skip(1)));
        return candidates
            .Where(name => !IPAddress.TryParse(name, out _)
                && !name.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                && !name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
                && Uri.CheckHostName(name) == UriHostNameType.Dns)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .FirstOrDefault(ResolvesToLoopbackOnly);
    }

    private static bool ResolvesToLoopbackOnly(string name)
    {
        try
        {
            var addresses = Dns.GetHostAddresses(name);
            return addresses.Length > 0 && addresses.All(IPAddress.IsLoopback);
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
