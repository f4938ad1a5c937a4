using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

/// <summary>Many POSTs at once on one conversation, through HTTP: every one answered, none with a 5xx.</summary>
public sealed class ConcurrentIntakeTests : IAsyncLifetime
{
    private readonly HubFixture _hub = new();

    public Task InitializeAsync() => Task.CompletedTask;
    public async Task DisposeAsync() => await _hub.DisposeAsync();

    [Fact]
    public async Task Fifty_parallel_posts_on_one_conversation_are_all_answered_in_sequence()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();

        var responses = await Task.WhenAll(Enumerable.Range(1, 50).Select(i =>
            Task.Run(async () =>
            {
                using var response = await client.SendMessageAsync(conversationId, $"Question {i}: when do orders ship?");
                return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
            })));

        Assert.All(responses, r => Assert.True(r.StatusCode == HttpStatusCode.OK, $"{(int)r.StatusCode}: {r.Body}"));
        var messages = await client.AllMessagesAsync(conversationId);
        Assert.Equal(100, messages.Count); // 50 questions, 50 replies
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), messages.Select(m => m["sequence"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Fifty_parallel_posts_with_five_idempotency_keys_store_five_messages_and_answer_each_with_its_own()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        var keys = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid().ToString()).ToArray();

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            Task.Run(async () =>
            {
                var key = keys[i % 5];
                using var response = await client.SendMessageAsync(conversationId, $"Question for {key}", idempotencyKey: key);
                return (Key: key, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
            })));

        Assert.All(responses, r => Assert.True(r.StatusCode == HttpStatusCode.OK, $"{(int)r.StatusCode}: {r.Body}"));
        var messages = await client.AllMessagesAsync(conversationId);
        var questions = messages.Where(m => m.Str("from") == "user").ToList();
        Assert.Equal(5, questions.Count);
        foreach (var perKey in responses.GroupBy(r => r.Key))
        {
            var replies = perKey.Select(r => System.Text.Json.Nodes.JsonNode.Parse(r.Body)!.Str("message_id")).Distinct();
            Assert.Single(replies); // every request with this key got the same reply
        }
    }
}
