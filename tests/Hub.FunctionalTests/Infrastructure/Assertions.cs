using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Hub.FunctionalTests.Infrastructure;

public static class Problems
{
    /// <summary>The contract's error shape: problem+json with the status and the stable <c>code</c>.</summary>
    public static async Task<JsonObject> AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(code, body["code"]?.GetValue<string>());
        Assert.Equal((int)status, body["status"]?.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(body["title"]?.GetValue<string>()), "a problem has a title");
        return body;
    }

    public static async Task AssertStatusAsync(this HttpResponseMessage response, HttpStatusCode status)
    {
        if (response.StatusCode != status)
            Assert.Fail($"Expected {(int)status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}

public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Polls until <paramref name="probe"/> returns a value (for waiting only; nothing is timed).</summary>
    public static async Task<T> GetAsync<T>(Func<Task<T?>> probe, string waitingFor, TimeSpan? timeout = null) where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            if (await probe() is { } value) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Gave up waiting for {waitingFor}.");
            await Task.Delay(100);
        }
    }
}

public static class Conversations
{
    /// <summary>Every message of the conversation, following <c>next_cursor</c>.</summary>
    public static async Task<List<JsonObject>> AllMessagesAsync(this HttpClient client, string conversationId, int limit = 100)
    {
        var all = new List<JsonObject>();
        string? cursor = null;
        do
        {
            var url = $"/v1/conversations/{conversationId}/messages?limit={limit}" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            var response = await client.GetAsync(url);
            await response.AssertStatusAsync(HttpStatusCode.OK);
            var page = await response.JsonAsync();
            all.AddRange(page["data"]!.AsArray().Select(m => m!.AsObject()));
            cursor = page["next_cursor"]?.GetValue<string>();
        } while (cursor is not null);
        return all;
    }

    /// <summary>Waits until the AI reply to <paramref name="messageId"/> is stored, and returns it.</summary>
    public static async Task<JsonObject> WaitForReplyAsync(this HttpClient client, string conversationId, string messageId, TimeSpan? timeout = null)
    {
        try
        {
            return await Eventually.GetAsync(async () => (await client.AllMessagesAsync(conversationId))
                .FirstOrDefault(m => m["reply_to"]?.GetValue<string>() == messageId && m["from"]!.GetValue<string>() == "ai"),
                $"the reply to {messageId}", timeout);
        }
        catch (TimeoutException e)
        {
            var messages = await client.AllMessagesAsync(conversationId);
            throw new TimeoutException($"{e.Message} The conversation holds: " +
                string.Join("; ", messages.Select(m => $"{m["from"]} {m["message_id"]} reply_status={m["reply_status"]}")), e);
        }
    }

    public static async Task<string> CreateConversationAsync(this HttpClient client, object? body = null)
    {
        var response = await client.PostAsJsonAsync("/v1/conversations", body ?? new { user_id = "u-42" });
        await response.AssertStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync())["conversation_id"]!.GetValue<string>();
    }

    public static string Text(this JsonObject reply) => reply["output"]![0]!["content"]!["text"]!.GetValue<string>();
    public static string Str(this JsonNode node, string property) => node[property]!.GetValue<string>();
}
