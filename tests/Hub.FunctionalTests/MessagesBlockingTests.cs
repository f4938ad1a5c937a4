using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class MessagesBlockingTests : IClassFixture<LlmHubFixture>
{
    private readonly HubFixture _hub;
    private readonly FakeOpenAiServer _llm;

    public MessagesBlockingTests(LlmHubFixture fixture)
    {
        (_hub, _llm) = (fixture.Hub, fixture.Llm);
        _llm.Reset();
    }

    private static readonly object PricedBot = new
    {
        name = "Support",
        instructions = "You are a support agent for an online shop.",
        pricing = new { input_credits_per_1k = 0.5, output_credits_per_1k = 1.5 },
    };

    [Fact]
    public async Task Blocking_reply_has_the_contracts_shape()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(PricedBot);
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var response = await client.SendMessageAsync(conversationId, "Where is my order?");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var reply = await response.JsonAsync();
        Assert.Equal("answered", reply.Str("status"));
        Assert.Equal(conversationId, reply.Str("conversation_id"));
        Assert.False(string.IsNullOrEmpty(reply.Str("message_id")));
        Assert.False(string.IsNullOrEmpty(reply.Str("reply_to")));
        Assert.NotEqual(reply.Str("message_id"), reply.Str("reply_to"));
        Assert.Equal("ai", reply.Str("from"));
        var createTime = reply["create_time"]!.GetValue<long>();
        Assert.InRange(createTime, before - 5, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
        Assert.Equal("Your order ships today.", reply.Text());
        var output = Assert.Single(reply["output"]!.AsArray());
        Assert.NotNull(output!["content"]!["text"]);

        var tokens = reply["usage"]!["tokens"]!;
        Assert.Equal(19, tokens["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(10, tokens["completion_tokens"]!.GetValue<int>());
        Assert.Equal(29, tokens["total_tokens"]!.GetValue<int>());
        var credits = reply["usage"]!["credits"]!;
        Assert.Equal(0.0095, credits["text_input_credits"]!.GetValue<double>(), 9);
        Assert.Equal(0.015, credits["text_output_credits"]!.GetValue<double>(), 9);
        Assert.Equal(0.0245, credits["total_credits"]!.GetValue<double>(), 9);
    }

    [Fact]
    public async Task Credits_are_tokens_times_the_bots_price_per_thousand()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new
        {
            name = "Pricey",
            pricing = new { input_credits_per_1k = 2.0, output_credits_per_1k = 8.0 },
        });
        _llm.PromptTokens = 1234;
        _llm.CompletionTokens = 567;

        var reply = await (await client.SendMessageAsync(conversationId, "Hi")).JsonAsync();

        var credits = reply["usage"]!["credits"]!;
        Assert.Equal(1234 * 2.0 / 1000, credits["text_input_credits"]!.GetValue<double>(), 9);
        Assert.Equal(567 * 8.0 / 1000, credits["text_output_credits"]!.GetValue<double>(), 9);
        Assert.Equal(1234 * 2.0 / 1000 + 567 * 8.0 / 1000, credits["total_credits"]!.GetValue<double>(), 9);
        Assert.Equal(1801, reply["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_bot_without_pricing_costs_zero_credits()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new { name = "Free" });

        var reply = await (await client.SendMessageAsync(conversationId, "Hi")).JsonAsync();

        Assert.Equal(29, reply["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());
        Assert.Equal(0d, reply["usage"]!["credits"]!["total_credits"]!.GetValue<double>());
    }

    [Fact]
    public async Task Blocking_is_the_default_response_mode()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();

        var response = await client.PostAsJsonAsync($"/v1/conversations/{conversationId}/messages", new { content = "Hello" });

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var reply = await response.JsonAsync();
        Assert.Equal("answered", reply.Str("status"));
        Assert.Equal("Your order ships today.", reply.Text());
    }

    [Fact]
    public async Task Messages_are_listed_in_order_with_sequence_1_2_3_per_conversation()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        var other = await client.CreateConversationAsync();
        var replies = new List<JsonObject>();
        for (var i = 1; i <= 3; i++)
        {
            _llm.ReplyText = $"Answer {i}.";
            replies.Add(await (await client.SendMessageAsync(conversationId, $"Question {i}?")).JsonAsync());
        }
        (await client.SendMessageAsync(other, "Unrelated?")).EnsureSuccessStatusCode();

        var messages = await client.AllMessagesAsync(conversationId);

        Assert.Equal([1L, 2, 3, 4, 5, 6], messages.Select(m => m["sequence"]!.GetValue<long>()));
        Assert.Equal(["user", "ai", "user", "ai", "user", "ai"], messages.Select(m => m.Str("from")));
        Assert.Equal(["Question 1?", "Answer 1.", "Question 2?", "Answer 2.", "Question 3?", "Answer 3."],
            messages.Select(m => m.Str("content")));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(replies[i].Str("reply_to"), messages[2 * i].Str("message_id"));
            Assert.Equal(replies[i].Str("message_id"), messages[2 * i + 1].Str("message_id"));
            Assert.Equal(messages[2 * i].Str("message_id"), messages[2 * i + 1].Str("reply_to"));
            Assert.Equal("answered", messages[2 * i].Str("reply_status"));
            Assert.Equal(conversationId, messages[2 * i].Str("conversation_id"));
        }
        var otherMessages = await client.AllMessagesAsync(other);
        Assert.Equal([1L, 2], otherMessages.Select(m => m["sequence"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Messages_list_pages_with_limit_and_cursor()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        for (var i = 0; i < 3; i++) (await client.SendMessageAsync(conversationId, $"Question {i}")).EnsureSuccessStatusCode();

        var first = await (await client.GetAsync($"/v1/conversations/{conversationId}/messages?limit=4")).JsonAsync();
        var cursor = first.Str("next_cursor");
        var second = await (await client.GetAsync($"/v1/conversations/{conversationId}/messages?limit=4&cursor={Uri.EscapeDataString(cursor)}")).JsonAsync();
        var paged = await client.AllMessagesAsync(conversationId, limit: 1);

        Assert.Equal([1L, 2, 3, 4], first["data"]!.AsArray().Select(m => m!["sequence"]!.GetValue<long>()));
        Assert.Equal([5L, 6], second["data"]!.AsArray().Select(m => m!["sequence"]!.GetValue<long>()));
        Assert.Null(second["next_cursor"]?.GetValue<string>());
        Assert.Equal([1L, 2, 3, 4, 5, 6], paged.Select(m => m["sequence"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Listed_ai_messages_carry_their_usage()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(PricedBot);
        var reply = await (await client.SendMessageAsync(conversationId, "Hi")).JsonAsync();

        var listed = (await client.AllMessagesAsync(conversationId)).Single(m => m.Str("message_id") == reply.Str("message_id"));

        Assert.Equal(29, listed["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());
        Assert.Equal(0.0245, listed["usage"]!["credits"]!["total_credits"]!.GetValue<double>(), 9);
        Assert.Equal(reply["create_time"]!.GetValue<long>(), listed["create_time"]!.GetValue<long>());
    }

    [Fact]
    public async Task Blocking_timeout_answers_202_pending_and_the_reply_is_stored_later()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new { name = "Slow", blocking_timeout_seconds = 1 });
        _llm.FirstChunkDelay = TimeSpan.FromSeconds(3);

        var response = await client.SendMessageAsync(conversationId, "Take your time.");

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        var body = await response.JsonAsync();
        Assert.Equal("pending", body.Str("status"));
        var messageId = body.Str("message_id");
        Assert.False(string.IsNullOrEmpty(messageId));
        var reply = await client.WaitForReplyAsync(conversationId, messageId);
        Assert.Equal("Your order ships today.", reply.Str("content"));
        var user = (await client.AllMessagesAsync(conversationId)).Single(m => m.Str("message_id") == messageId);
        Assert.Equal("answered", user.Str("reply_status"));
    }

    [Fact]
    public async Task Webhook_mode_answers_202_accepted_and_the_reply_is_stored()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(HubFixture.WebhookBot);

        var response = await client.SendMessageAsync(conversationId, "Where is my order?", mode: "webhook");

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        var body = await response.JsonAsync();
        Assert.Equal("accepted", body.Str("status"));
        Assert.Equal(conversationId, body.Str("conversation_id"));
        var reply = await client.WaitForReplyAsync(conversationId, body.Str("message_id"));
        Assert.Equal("Your order ships today.", reply.Str("content"));
        Assert.Equal(2, reply["sequence"]!.GetValue<long>());
    }

    [Fact]
    public async Task Admin_key_can_send_in_any_bots_conversation()
    {
        var (_, _, conversationId) = await _hub.StartConversationAsync();
        using var admin = _hub.Admin();

        var response = await admin.SendMessageAsync(conversationId, "Hello from the admin");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal(conversationId, (await response.JsonAsync()).Str("conversation_id"));
    }

    [Fact]
    public async Task Concurrent_messages_in_one_conversation_get_distinct_consecutive_sequences()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(HubFixture.WebhookBot);

        var responses = await Task.WhenAll(Enumerable.Range(1, 8)
            .Select(i => client.SendMessageAsync(conversationId, $"Parallel question {i}", mode: "webhook")));
        foreach (var response in responses) await response.AssertStatusAsync(HttpStatusCode.Accepted);
        await Eventually.GetAsync(async () => (await client.AllMessagesAsync(conversationId)).Count == 16 ? "" : null, "all 8 replies");

        var messages = await client.AllMessagesAsync(conversationId);
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (long)i), messages.Select(m => m["sequence"]!.GetValue<long>()));
        Assert.Equal(8, messages.Count(m => m.Str("from") == "ai"));
        Assert.All(messages.Where(m => m.Str("from") == "ai"), reply =>
        {
            var question = messages.Single(m => m.Str("message_id") == reply.Str("reply_to"));
            Assert.True(question["sequence"]!.GetValue<long>() < reply["sequence"]!.GetValue<long>());
        });
    }

    [Fact]
    public async Task A_conversation_closed_while_the_ai_is_thinking_answers_409_and_gets_no_ai_reply()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.HoldReplies(); // the model is still thinking when the conversation changes

        var sending = client.SendMessageAsync(conversationId, "Where is my order?");
        await _llm.RequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
        await (await client.PostAsync($"/v1/conversations/{conversationId}/close", null)).AssertStatusAsync(HttpStatusCode.OK);
        _llm.ReleaseReplies();
        var response = await sending;

        await response.AssertProblemAsync(HttpStatusCode.Conflict, "conversation_closed");
        await Task.Delay(500);
        var messages = await client.AllMessagesAsync(conversationId);
        Assert.DoesNotContain(messages, m => m.Str("from") == "ai");
        Assert.Equal("Where is my order?", Assert.Single(messages).Str("content"));
    }

    [Fact]
    public async Task A_handoff_while_the_ai_is_thinking_answers_202_handed_off_and_gets_no_ai_reply()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.HoldReplies(); // the model is still thinking when the conversation changes

        var sending = client.SendMessageAsync(conversationId, "Where is my order?");
        await _llm.RequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
        await (await client.PostAsync($"/v1/conversations/{conversationId}/handoff", null)).AssertStatusAsync(HttpStatusCode.OK);
        _llm.ReleaseReplies();
        var response = await sending;

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("handed_off", (await response.JsonAsync()).Str("status"));
        await Task.Delay(500);
        Assert.DoesNotContain(await client.AllMessagesAsync(conversationId), m => m.Str("from") == "ai");
    }
}
