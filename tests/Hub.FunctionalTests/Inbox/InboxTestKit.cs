using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Inbox;

/// <summary>
/// One hub (offline provider) and one webhook receiver on loopback, shared by the tests of a class. Every
/// test brings its own bots and agents; agents are scoped to the test's bots so that inbox views and
/// counts see only that test's conversations.
/// </summary>
public class InboxHubFixture : IAsyncLifetime
{
    public HubFixture Hub { get; private set; } = null!;
    public WebhookReceiver Receiver { get; private set; } = null!;

    protected virtual Task<IDictionary<string, string?>> ExtraSettingsAsync() => Task.FromResult<IDictionary<string, string?>>(new Dictionary<string, string?>());

    public virtual async Task InitializeAsync()
    {
        Receiver = await WebhookReceiver.StartAsync();
        var settings = InboxKit.Settings();
        foreach (var (k, v) in await ExtraSettingsAsync()) settings[k] = v;
        Hub = HubFixture.With(settings);
        _ = Hub.Server; // start it now, not inside the first test
    }

    public virtual async Task DisposeAsync()
    {
        await Hub.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}

/// <summary>A bot created for an inbox test, with a client holding its key.</summary>
public sealed record InboxBot(string Id, string ApiKey, HttpClient Client);

/// <summary>A logged-in agent: its id, credentials, session token and a client sending that token as a bearer.</summary>
public sealed record Agent(string Id, string Email, string Password, string Token, HttpClient Client);

public static class InboxKit
{
    public static readonly string[] AllEvents =
    [
        "message.reply", "message.received", "conversation.created", "conversation.handoff_requested",
        "conversation.assigned", "conversation.handed_back", "conversation.closed",
    ];

    public static readonly string[] Knowledge = ["Orders ship within 2 business days.", "Returns are free for 30 days."];
    public const string FallbackText = "I don't know that yet.";

    /// <summary>A question the offline provider answers from <see cref="Knowledge"/>.</summary>
    public const string KnownQuestion = "When do orders ship?";

    /// <summary>A question that shares no term with <see cref="Knowledge"/>.</summary>
    public const string UnknownQuestion = "Can I pay with bitcoin?";

    public static Dictionary<string, string?> Settings() => new()
    {
        ["HUB_WEBHOOK_ALLOW_PRIVATE"] = "true",
        ["HUB_WEBHOOK_POLL_MS"] = "50",
        ["HUB_WEBHOOK_RETRY_SCHEDULE"] = "100ms,200ms,300ms",
    };

    /// <summary>A bot with handoff keywords "human" and "agent", subscribed to every event when a webhook URL is given.</summary>
    public static async Task<InboxBot> CreateInboxBotAsync(this HubFixture hub, string? webhookUrl = null, bool onNoAnswer = false,
        string[]? keywords = null)
    {
        var body = new JsonObject
        {
            ["name"] = "Inbox bot",
            ["knowledge"] = new JsonArray(Knowledge.Select(k => (JsonNode)k).ToArray()),
            ["fallback_text"] = FallbackText,
            ["handoff"] = new JsonObject
            {
                ["keywords"] = new JsonArray((keywords ?? ["human", "agent"]).Select(k => (JsonNode)k).ToArray()),
                ["on_no_answer"] = onNoAnswer,
            },
        };
        if (webhookUrl is not null)
            body["webhook"] = new JsonObject { ["url"] = webhookUrl, ["events"] = new JsonArray(AllEvents.Select(e => (JsonNode)e).ToArray()) };
        var created = await hub.CreateBotAsync(body);
        var key = created.Str("api_key");
        return new InboxBot(created.Str("id"), key, hub.WithKey(key));
    }

    public static Task<string> NewConversationAsync(this InboxBot bot) => bot.Client.CreateConversationAsync();

    /// <summary>Creates an agent (admin key) and logs it in.</summary>
    public static async Task<Agent> CreateAgentAsync(this HubFixture hub, string[]? botIds = null, string role = "agent", string? name = null)
    {
        var email = $"agent-{Guid.NewGuid():N}@example.com";
        const string password = "correct horse battery";
        using var admin = hub.Admin();
        var response = await admin.PostAsJsonAsync("/v1/agents", new { email, name = name ?? "Agent " + email[6..10], password, role, bot_ids = botIds ?? [] });
        await response.AssertStatusAsync(HttpStatusCode.Created);
        var id = (await response.JsonAsync()).Str("id");
        var token = await hub.LoginAsync(email, password);
        return new Agent(id, email, password, token, hub.WithToken(token));
    }

    public static async Task<string> LoginAsync(this HubFixture hub, string email, string password)
    {
        using var anonymous = hub.CreateClient();
        var response = await anonymous.PostAsJsonAsync("/v1/auth/login", new { email, password });
        await response.AssertStatusAsync(HttpStatusCode.OK);
        return (await response.JsonAsync()).Str("access_token");
    }

    public static HttpClient WithToken(this HubFixture hub, string token)
    {
        var client = hub.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false });
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary><c>GET /v1/inbox/conversations?view=…</c>: the conversation IDs shown, and the counts.</summary>
    public static async Task<(List<string> Ids, JsonObject Counts)> InboxAsync(this HttpClient agent, string view)
    {
        var response = await agent.GetAsync($"/v1/inbox/conversations?view={view}");
        await response.AssertStatusAsync(HttpStatusCode.OK);
        var body = await response.JsonAsync();
        return (body["data"]!.AsArray().Select(c => c!.Str("conversation_id")).ToList(), body["counts"]!.AsObject());
    }

    public static Task<HttpResponseMessage> InboxActAsync(this HttpClient agent, string conversationId, string action, object? body = null) =>
        agent.PostAsync($"/v1/inbox/conversations/{conversationId}/{action}", body is null ? null : JsonContent.Create(body));

    public static async Task<JsonObject> ConversationAsync(this HttpClient client, string conversationId)
    {
        var response = await client.GetAsync($"/v1/conversations/{conversationId}");
        await response.AssertStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    public static async Task<string> StatusAsync(this HttpClient client, string conversationId) =>
        (await client.ConversationAsync(conversationId)).Str("status");

    /// <summary>The conversation's webhook events as stored in the outbox (<c>GET /v1/deliveries</c>), in the order they were made.</summary>
    public static async Task<List<JsonObject>> DeliveriesAsync(this HttpClient client, string conversationId, string? eventType = null)
    {
        var url = $"/v1/deliveries?conversation_id={conversationId}&limit=100" + (eventType is null ? "" : $"&event_type={eventType}");
        var response = await client.GetAsync(url);
        await response.AssertStatusAsync(HttpStatusCode.OK);
        return (await response.JsonAsync())["data"]!.AsArray().Select(d => d!.AsObject()).ToList();
    }

    /// <summary>The conversation's <c>conversation.*</c> events in the order they were made, as (type, previous_status, status).</summary>
    public static async Task<List<(string Type, string? Previous, string Status)>> TransitionsAsync(this HttpClient client, string conversationId) =>
        (await client.DeliveriesAsync(conversationId))
            .Where(d => d.Str("event_type").StartsWith("conversation.") && d.Str("event_type") != "conversation.created")
            .Select(d => (d.Str("event_type"), d["payload"]!["data"]!["previous_status"]?.GetValue<string>(), d["payload"]!["data"]!.Str("status")))
            .ToList();

    /// <summary>The first webhook of <paramref name="type"/> the receiver got for the conversation.</summary>
    public static Task<ReceivedWebhook> EventForAsync(this WebhookReceiver receiver, string type, string conversationId) =>
        receiver.WaitForEventAsync(type, r => r.Data["conversation_id"]?.GetValue<string>() == conversationId);

    public static bool IsAi(this JsonObject message) => message.Str("from") == "ai";
}
