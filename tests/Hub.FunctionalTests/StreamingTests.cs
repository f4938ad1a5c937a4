using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed partial class StreamingTests : IClassFixture<LlmHubFixture>
{
    private readonly HubFixture _hub;
    private readonly FakeOpenAiServer _llm;

    public StreamingTests(LlmHubFixture fixture)
    {
        (_hub, _llm) = (fixture.Hub, fixture.Llm);
        _llm.Reset();
    }

    [GeneratedRegex(@"\A(event: message\ndata: \{[^\n]*\}\n\n)+event: message_end\ndata: \{[^\n]*\}\n\n\z")]
    private static partial Regex MessagesThenEnd();

    [Fact]
    public async Task Streaming_reply_is_message_events_then_message_end_on_the_wire()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.ReplyText = "Your order ships today from our Berlin warehouse.";

        var response = await client.SendMessageAsync(conversationId, "Where is my order?", mode: "streaming");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", response.Headers.CacheControl?.ToString());
        var raw = await SseReader.ReadToEndAsync(response);
        Assert.Matches(MessagesThenEnd(), raw);
    }

    [Fact]
    public async Task Streamed_deltas_concatenate_to_the_message_end_text()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new
        {
            name = "Support",
            pricing = new { input_credits_per_1k = 0.5, output_credits_per_1k = 1.5 },
        });
        _llm.ReplyText = "Your order ships today from our Berlin warehouse.";

        var response = await client.SendMessageAsync(conversationId, "Where is my order?", mode: "streaming");
        var frames = await SseReader.ReadFramesAsync(response);

        var deltas = frames.Where(f => f.Event == "message").ToList();
        var end = frames[^1];
        Assert.Equal("message_end", end.Event);
        Assert.Equal(8, deltas.Count); // one event per chunk the model sent
        Assert.Equal(_llm.ReplyText, string.Concat(deltas.Select(d => d.Data!.Str("delta"))));
        Assert.Equal(_llm.ReplyText, end.Data!.Text());
        Assert.All(deltas, d =>
        {
            Assert.Equal(end.Data!.Str("message_id"), d.Data!.Str("message_id"));
            Assert.Equal(conversationId, d.Data!.Str("conversation_id"));
        });

        var reply = end.Data!;
        Assert.Equal(conversationId, reply.Str("conversation_id"));
        Assert.Equal("ai", reply.Str("from"));
        Assert.False(string.IsNullOrEmpty(reply.Str("reply_to")));
        Assert.InRange(reply["create_time"]!.GetValue<long>(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
        Assert.Equal(29, reply["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());
        Assert.Equal(0.0245, reply["usage"]!["credits"]!["total_credits"]!.GetValue<double>(), 9);
    }

    [Fact]
    public async Task Streamed_reply_is_stored_like_a_blocking_one()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();

        var frames = await SseReader.ReadFramesAsync(await client.SendMessageAsync(conversationId, "Where is my order?", mode: "streaming"));

        var end = frames.Single(f => f.Event == "message_end").Data!;
        var messages = await client.AllMessagesAsync(conversationId);
        Assert.Equal(2, messages.Count);
        Assert.Equal(end.Str("reply_to"), messages[0].Str("message_id"));
        Assert.Equal("Where is my order?", messages[0].Str("content"));
        Assert.Equal("answered", messages[0].Str("reply_status"));
        Assert.Equal(end.Str("message_id"), messages[1].Str("message_id"));
        Assert.Equal(end.Text(), messages[1].Str("content"));
    }

    [Fact]
    public async Task Ping_comments_keep_a_quiet_stream_alive()
    {
        var settings = LlmHubFixture.LlmSettings(_llm);
        settings["HUB_SSE_PING_SECONDS"] = "0.2";
        await using var hub = HubFixture.With(settings);
        var (client, _, conversationId) = await hub.StartConversationAsync();
        _llm.FirstChunkDelay = TimeSpan.FromSeconds(1.5);

        var response = await client.SendMessageAsync(conversationId, "Think hard.", mode: "streaming");
        var raw = await SseReader.ReadToEndAsync(response);

        Assert.Contains(": ping\n\n", raw);
        var frames = SseReader.Parse(raw);
        Assert.Contains(frames, f => f.IsPing);
        Assert.All(frames.Where(f => f.Comment is not null), f => Assert.True(f.IsPing));
        var events = frames.Where(f => !f.IsPing).ToList();
        Assert.Equal("message_end", events[^1].Event);
        Assert.Equal("Your order ships today.", events[^1].Data!.Text());
        // No ping after the end: the stream really ends there.
        Assert.EndsWith("\n\n", raw);
        Assert.Equal("message_end", frames[^1].Event);
    }

    [Fact]
    public async Task Stream_ends_with_an_error_event_when_the_blocking_timeout_passes_and_the_reply_is_still_stored()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new { name = "Slow", blocking_timeout_seconds = 1 });
        _llm.FirstChunkDelay = TimeSpan.FromSeconds(3);

        var response = await client.SendMessageAsync(conversationId, "Take your time.", mode: "streaming");
        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();

        var error = Assert.Single(frames);
        Assert.Equal("error", error.Event);
        Assert.False(string.IsNullOrEmpty(error.Data!.Str("code")));
        Assert.False(string.IsNullOrEmpty(error.Data!.Str("message")));
        var user = (await client.AllMessagesAsync(conversationId)).Single(m => m.Str("from") == "user");
        var reply = await client.WaitForReplyAsync(conversationId, user.Str("message_id"));
        Assert.Equal("Your order ships today.", reply.Str("content"));
    }

    [Fact]
    public async Task A_model_that_drops_mid_reply_ends_the_stream_with_an_error_after_the_deltas_sent()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.ReplyText = "Your order ships today from our Berlin warehouse.";
        _llm.DropAfterChunks = 2;

        var response = await client.SendMessageAsync(conversationId, "Where is my order?", mode: "streaming");
        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();

        Assert.Equal("error", frames[^1].Event);
        Assert.False(string.IsNullOrEmpty(frames[^1].Data!.Str("code")));
        Assert.All(frames[..^1], f => Assert.Equal("message", f.Event));
        Assert.Equal("Your order ", string.Concat(frames[..^1].Select(f => f.Data!.Str("delta"))));
        Assert.Single(_llm.Requests); // text had reached the caller: no retry that would repeat it
        var messages = await client.AllMessagesAsync(conversationId);
        var user = Assert.Single(messages);
        Assert.Equal("failed", user.Str("reply_status"));
    }

    [Fact]
    public async Task A_handoff_while_the_ai_is_thinking_ends_the_stream_with_a_handoff_event_and_no_ai_reply()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.HoldReplies(); // the model is still thinking when the conversation changes

        var response = await client.SendMessageAsync(conversationId, "Where is my order?", mode: "streaming");
        await _llm.RequestArrived.WaitAsync(TimeSpan.FromSeconds(30));
        await (await client.PostAsJsonAsync($"/v1/conversations/{conversationId}/handoff", new { reason = "VIP" })).AssertStatusAsync(HttpStatusCode.OK);
        _llm.ReleaseReplies();
        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();

        // Chunks the model sent before the reply was refused may already have gone out; the stream still
        // ends with the handoff, and the reply is not stored.
        var handoff = frames[^1];
        Assert.Equal("handoff", handoff.Event);
        Assert.Equal(conversationId, handoff.Data!.Str("conversation_id"));
        Assert.All(frames[..^1], f => Assert.Equal("message", f.Event));
        Assert.DoesNotContain(frames, f => f.Event == "message_end");
        await Task.Delay(500);
        Assert.DoesNotContain(await client.AllMessagesAsync(conversationId), m => m.Str("from") == "ai");
    }
}
