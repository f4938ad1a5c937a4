using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Hub.IntegrationTests.Infrastructure;

/// <summary>HTTP calls to one Hub process with one bearer key, and the few contract calls the suite sets things up with.</summary>
public sealed class HubClient
{
    private static readonly SocketsHttpHandler Handler = new()
    {
        // A killed process leaves dead pooled connections behind: don't keep them long.
        PooledConnectionLifetime = TimeSpan.FromSeconds(10),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5),
        MaxConnectionsPerServer = 64,
    };

    private readonly HttpClient _http;

    /// <param name="bearer">The admin or a bot key; null for anonymous calls (login).</param>
    public HubClient(HubProcess process, string? bearer)
    {
        Process = process;
        _http = new HttpClient(Handler, disposeHandler: false) { BaseAddress = process.BaseAddress, Timeout = TimeSpan.FromSeconds(100) };
        if (bearer is not null) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
    }

    public HubProcess Process { get; }

    /// <param name="headers">More request headers (e.g. a caller's <c>traceparent</c>).</param>
    public Task<HttpResponseMessage> PostAsync(string path, JsonNode body, string? idempotencyKey = null,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead, CancellationToken ct = default,
        IReadOnlyDictionary<string, string>? headers = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        foreach (var (name, value) in headers ?? new Dictionary<string, string>()) request.Headers.TryAddWithoutValidation(name, value);
        return _http.SendAsync(request, completion, ct);
    }

    public Task<HttpResponseMessage> GetAsync(string path, CancellationToken ct = default) => _http.GetAsync(path, ct);

    public Task<HttpResponseMessage> DeleteAsync(string path, CancellationToken ct = default) => _http.DeleteAsync(path, ct);

    /// <summary>A set-up call: waits out 429s (the suite runs with tight rate limits in places), then expects a 2xx JSON body.</summary>
    public Task<JsonObject> PostOkAsync(string path, JsonNode body) => OkAsync(() => PostAsync(path, body), $"POST {path}");

    public Task<JsonObject> GetOkAsync(string path) => OkAsync(() => GetAsync(path), $"GET {path}");

    private async Task<JsonObject> OkAsync(Func<Task<HttpResponseMessage>> send, string what)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var response = await send();
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.TooManyRequests && attempt < 20)
            {
                await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
                continue;
            }
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"{what} on {Process} answered {(int)response.StatusCode}: {text}");
            return JsonNode.Parse(text)!.AsObject();
        }
    }

    // --- the contract calls the tests set up with -----------------------------------------------------------------

    /// <summary>Admin: a bot (optionally with a webhook URL and handoff keywords); returns its id and API key.</summary>
    public async Task<(string Id, string ApiKey)> CreateBotAsync(string? webhookUrl = null, string[]? handoffKeywords = null)
    {
        var body = new JsonObject
        {
            ["name"] = "Integration bot " + Guid.NewGuid().ToString("N")[..8],
            ["instructions"] = "You are a helpful assistant.",
            ["pricing"] = new JsonObject { ["input_credits_per_1k"] = 1.0, ["output_credits_per_1k"] = 2.0 },
        };
        if (webhookUrl is not null) body["webhook"] = new JsonObject { ["url"] = webhookUrl };
        if (handoffKeywords is not null)
            body["handoff"] = new JsonObject { ["keywords"] = new JsonArray(handoffKeywords.Select(k => (JsonNode)k).ToArray()) };
        var bot = await PostOkAsync("/v1/bots", body);
        return (bot["id"]!.GetValue<string>(), bot["api_key"]!.GetValue<string>());
    }

    /// <summary>Bot key: a conversation; returns its id.</summary>
    public async Task<string> CreateConversationAsync(string userId) =>
        (await PostOkAsync("/v1/conversations", new JsonObject { ["user_id"] = userId }))["conversation_id"]!.GetValue<string>();

    public Task<HttpResponseMessage> SendMessageAsync(string conversationId, string content, string mode, string? idempotencyKey = null,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead, CancellationToken ct = default,
        IReadOnlyDictionary<string, string>? headers = null) =>
        PostAsync($"/v1/conversations/{conversationId}/messages",
            new JsonObject { ["content"] = content, ["response_mode"] = mode }, idempotencyKey, completion, ct, headers);

    /// <summary>Every message of a conversation, in sequence order (all pages).</summary>
    public async Task<List<JsonObject>> MessagesAsync(string conversationId)
    {
        var all = new List<JsonObject>();
        string? cursor = null;
        do
        {
            var page = await GetOkAsync($"/v1/conversations/{conversationId}/messages?limit=200"
                                        + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            all.AddRange(page["data"]!.AsArray().Select(m => m!.AsObject()));
            cursor = page["has_more"]?.GetValue<bool>() == true ? page["next_cursor"]?.GetValue<string>() : null;
        } while (cursor is not null);
        return all;
    }

    /// <summary>Admin: an agent limited to <paramref name="botIds"/>; returns its e-mail and password.</summary>
    public async Task<(string Email, string Password)> CreateAgentAsync(string name, params string[] botIds)
    {
        var email = $"{name}-{Guid.NewGuid():N}@example.com";
        const string password = "correct horse battery staple";
        await PostOkAsync("/v1/agents", new JsonObject
        {
            ["email"] = email, ["name"] = name, ["password"] = password, ["role"] = "agent",
            ["bot_ids"] = new JsonArray(botIds.Select(b => (JsonNode)b).ToArray()),
        });
        return (email, password);
    }

    /// <summary>Anonymous: logs an agent in; returns the token for the SignalR hub.</summary>
    public async Task<string> LoginAsync(string email, string password) =>
        (await PostOkAsync("/v1/auth/login", new JsonObject { ["email"] = email, ["password"] = password }))["access_token"]!.GetValue<string>();
}
