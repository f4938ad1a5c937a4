using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class IdempotencyTests : IClassFixture<LlmHubFixture>
{
    private readonly HubFixture _hub;
    private readonly FakeOpenAiServer _llm;

    public IdempotencyTests(LlmHubFixture fixture)
    {
        (_hub, _llm) = (fixture.Hub, fixture.Llm);
        _llm.Reset();
    }

    private int LlmCallsAbout(string content) =>
        _llm.Requests.Count(r => r.Body["messages"]!.AsArray().Any(m => m!["content"]?.ToString().Contains(content) == true));

    [Fact]
    public async Task Same_idempotency_key_twice_returns_the_same_reply_and_calls_the_llm_once()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        var key = Guid.NewGuid().ToString();

        var first = await client.SendMessageAsync(conversationId, "Where is order 1001?", idempotencyKey: key);
        var second = await client.SendMessageAsync(conversationId, "Where is order 1001?", idempotencyKey: key);

        await first.AssertStatusAsync(HttpStatusCode.OK);
        await second.AssertStatusAsync(HttpStatusCode.OK);
        var a = await first.JsonAsync();
        var b = await second.JsonAsync();
        Assert.Equal(a.Str("message_id"), b.Str("message_id"));
        Assert.Equal(a.Str("reply_to"), b.Str("reply_to"));
        Assert.Equal(a.Text(), b.Text());
        Assert.Equal("answered", b.Str("status"));
        Assert.Equal(1, LlmCallsAbout("order 1001"));
        Assert.Equal(2, (await client.AllMessagesAsync(conversationId)).Count);
    }

    [Fact]
    public async Task Same_key_with_different_content_is_409_conflict()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        var key = Guid.NewGuid().ToString();
        (await client.SendMessageAsync(conversationId, "First question", idempotencyKey: key)).EnsureSuccessStatusCode();

        var response = await client.SendMessageAsync(conversationId, "A different question", idempotencyKey: key);

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.DoesNotContain(await client.AllMessagesAsync(conversationId), m => m.Str("content") == "A different question");
    }

    [Fact]
    public async Task Concurrent_requests_with_one_key_store_one_message_and_get_one_reply()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.FirstChunkDelay = TimeSpan.FromSeconds(1);
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 4)
            .Select(_ => client.SendMessageAsync(conversationId, "Where is order 2002?", idempotencyKey: key)));

        var bodies = new List<System.Text.Json.Nodes.JsonObject>();
        foreach (var response in responses)
        {
            await response.AssertStatusAsync(HttpStatusCode.OK);
            bodies.Add(await response.JsonAsync());
        }
        Assert.Single(bodies.Select(b => b.Str("message_id")).Distinct());
        Assert.Single(bodies.Select(b => b.Str("reply_to")).Distinct());
        Assert.Equal(1, LlmCallsAbout("order 2002"));
        Assert.Equal(2, (await client.AllMessagesAsync(conversationId)).Count);
    }

    [Fact]
    public async Task Same_key_in_webhook_mode_accepts_once()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(HubFixture.WebhookBot);
        var key = Guid.NewGuid().ToString();

        var first = await (await client.SendMessageAsync(conversationId, "Where is order 3003?", mode: "webhook", idempotencyKey: key)).JsonAsync();
        var reply = await client.WaitForReplyAsync(conversationId, first.Str("message_id"));
        var second = await client.SendMessageAsync(conversationId, "Where is order 3003?", mode: "webhook", idempotencyKey: key);

        await second.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal(first.Str("message_id"), (await second.JsonAsync()).Str("message_id"));
        var messages = await client.AllMessagesAsync(conversationId);
        Assert.Equal([first.Str("message_id"), reply.Str("message_id")], messages.Select(m => m.Str("message_id")));
        Assert.Equal(1, LlmCallsAbout("order 3003"));
    }

    [Fact]
    public async Task Same_key_replayed_as_a_stream_ends_with_the_stored_reply()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        var key = Guid.NewGuid().ToString();

        var first = (await SseReader.ReadFramesAsync(
            await client.SendMessageAsync(conversationId, "Where is order 4004?", mode: "streaming", idempotencyKey: key))).Last();
        var second = await SseReader.ReadFramesAsync(
            await client.SendMessageAsync(conversationId, "Where is order 4004?", mode: "streaming", idempotencyKey: key));

        Assert.Equal("message_end", first.Event);
        Assert.Equal("message_end", second[^1].Event);
        Assert.Equal(first.Data!.Str("message_id"), second[^1].Data!.Str("message_id"));
        Assert.Equal(first.Data!.Text(), string.Concat(second.Where(f => f.Event == "message").Select(f => f.Data!.Str("delta"))));
        Assert.Equal(1, LlmCallsAbout("order 4004"));
    }

    [Fact]
    public async Task Keys_belong_to_one_bot()
    {
        var (one, _, conversationOne) = await _hub.StartConversationAsync();
        var (two, _, conversationTwo) = await _hub.StartConversationAsync();
        var key = Guid.NewGuid().ToString();

        var a = await (await one.SendMessageAsync(conversationOne, "Where is order 5005?", idempotencyKey: key)).JsonAsync();
        var b = await (await two.SendMessageAsync(conversationTwo, "Where is order 5005?", idempotencyKey: key)).JsonAsync();

        Assert.NotEqual(a.Str("message_id"), b.Str("message_id"));
        Assert.Equal(conversationTwo, b.Str("conversation_id"));
        Assert.Equal(2, LlmCallsAbout("order 5005"));
    }
}
