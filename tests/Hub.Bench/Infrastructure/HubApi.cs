using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Hub.Bench.Infrastructure;

public sealed record BotInfo(string Id, string ApiKey, string Secret, string SystemPrompt, string Model);

/// <summary>The few calls of Hub's public API the bench makes (../shared/API.md).</summary>
public sealed class HubApi(HttpClient http, string baseUrl)
{
    public const string Instructions = "You are a friendly support agent for an online shop. Answer briefly.";
    public static readonly string[] Knowledge = ["Orders ship within 2 business days.", "Returns are free for 30 days."];

    /// <summary>What Hub's PromptBuilder makes of <see cref="Instructions"/> and <see cref="Knowledge"/> with an LLM configured.</summary>
    public static string SystemPrompt =>
        Instructions + "\n\nUse this knowledge when it is relevant:\n" + string.Join("\n", Knowledge.Select(k => "- " + k));

    public string BaseUrl => baseUrl;

    public async Task<BotInfo> CreateBotAsync(string name, string model = "fake", string? webhookUrl = null, int blockingTimeoutSeconds = 60)
    {
        var body = new JsonObject
        {
            ["name"] = name,
            ["instructions"] = Instructions,
            ["model"] = model,
            ["knowledge"] = new JsonArray(Knowledge.Select(k => (JsonNode)k).ToArray()),
            ["pricing"] = new JsonObject { ["input_credits_per_1k"] = 0.5, ["output_credits_per_1k"] = 1.5 },
            ["blocking_timeout_seconds"] = blockingTimeoutSeconds,
        };
        if (webhookUrl is not null) body["webhook"] = new JsonObject { ["url"] = webhookUrl, ["events"] = new JsonArray("message.reply") };
        var json = await SendAsync(HttpMethod.Post, "/v1/bots", HubProcess.AdminKey, body);
        return new BotInfo(json["id"]!.GetValue<string>(), json["api_key"]!.GetValue<string>(),
            json["webhook"]!["secret"]!.GetValue<string>(), SystemPrompt, model);
    }

    public async Task<string> CreateConversationAsync(string botKey, string userId)
    {
        var json = await SendAsync(HttpMethod.Post, "/v1/conversations", botKey, new JsonObject { ["user_id"] = userId });
        return json["conversation_id"]!.GetValue<string>();
    }

    /// <summary>Creates <paramref name="count"/> conversations, <paramref name="parallel"/> at a time.</summary>
    public async Task<string[]> CreateConversationsAsync(string botKey, int count, int parallel = 16)
    {
        var ids = new string[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = parallel },
            async (i, _) => ids[i] = await CreateConversationAsync(botKey, $"bench-user-{i}"));
        return ids;
    }

    public HttpRequestMessage MessageRequest(string botKey, string conversationId, string content, string mode)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/v1/conversations/{conversationId}/messages")
        {
            Content = new StringContent(new JsonObject { ["content"] = content, ["response_mode"] = mode }.ToJsonString(),
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", botKey);
        return request;
    }

    private async Task<JsonNode> SendAsync(HttpMethod method, string path, string key, JsonNode body)
    {
        using var request = new HttpRequestMessage(method, baseUrl + path)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"{method} {path} answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>A client for many concurrent loopback connections (one per open stream, if need be).</summary>
    public static HttpClient NewClient(TimeSpan? timeout = null) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(30),
    })
    {
        Timeout = timeout ?? TimeSpan.FromSeconds(120),
    };
}
