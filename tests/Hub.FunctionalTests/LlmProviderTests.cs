using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class ProviderHubFixture : LlmHubFixture
{
    public const string DefaultModel = "fake-default-model";
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["HUB_LLM_MODEL"] = DefaultModel };
}

/// <summary>The OpenAI-compatible provider, against a fake Chat Completions server on loopback.</summary>
public sealed class LlmProviderTests : IClassFixture<ProviderHubFixture>
{
    private readonly HubFixture _hub;
    private readonly FakeOpenAiServer _llm;

    public LlmProviderTests(ProviderHubFixture fixture)
    {
        (_hub, _llm) = (fixture.Hub, fixture.Llm);
        _llm.Reset();
    }

    private FakeOpenAiServer.RecordedRequest LastRequestAbout(string content) =>
        _llm.Requests.Last(r => r.Body["messages"]!.AsArray().Any(m => m!["content"]?.ToString().Contains(content) == true));

    [Fact]
    public async Task Hub_streams_chat_completions_with_usage_requested()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();

        (await client.SendMessageAsync(conversationId, "Probe 1")).EnsureSuccessStatusCode();

        var request = LastRequestAbout("Probe 1");
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.True(request.Body["stream"]!.GetValue<bool>());
        Assert.True(request.Body["stream_options"]!["include_usage"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Bot_instructions_are_the_system_message_and_history_follows_in_order()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new { name = "Shop", instructions = "You are Ada, the shop's assistant. Be brief." });
        _llm.ReplyFor = body => body["messages"]!.AsArray().Count < 3 ? "First answer." : "Second answer.";

        (await client.SendMessageAsync(conversationId, "First question")).EnsureSuccessStatusCode();
        var second = await (await client.SendMessageAsync(conversationId, "Second question")).JsonAsync();

        Assert.Equal("Second answer.", second.Text());
        var messages = LastRequestAbout("Second question").Body["messages"]!.AsArray()
            .Select(m => (Role: m!.Str("role"), Content: m!["content"]!.ToString())).ToList();
        Assert.Equal(
            [
                ("system", "You are Ada, the shop's assistant. Be brief."),
                ("user", "First question"),
                ("assistant", "First answer."),
                ("user", "Second question"),
            ],
            messages);
    }

    [Fact]
    public async Task Bot_knowledge_reaches_the_llm_as_context_after_the_instructions()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new
        {
            name = "Shop",
            instructions = "You are the shop's assistant.",
            knowledge = new[] { "Orders ship within 2 business days." },
        });

        (await client.SendMessageAsync(conversationId, "Probe 2")).EnsureSuccessStatusCode();

        var system = LastRequestAbout("Probe 2").Body["messages"]![0]!;
        Assert.Equal("system", system.Str("role"));
        Assert.StartsWith("You are the shop's assistant.", system["content"]!.ToString());
        Assert.Contains("Orders ship within 2 business days.", system["content"]!.ToString());
    }

    [Fact]
    public async Task Bot_model_and_temperature_are_sent()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new { name = "Tuned", model = "gpt-4.1-nano", temperature = 0.3 });

        (await client.SendMessageAsync(conversationId, "Probe 3")).EnsureSuccessStatusCode();

        var body = LastRequestAbout("Probe 3").Body;
        Assert.Equal("gpt-4.1-nano", body.Str("model"));
        Assert.Equal(0.3, body["temperature"]!.GetValue<double>(), 5);
    }

    [Fact]
    public async Task A_bot_without_a_model_uses_HUB_LLM_MODEL()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync(new { name = "Plain" });

        (await client.SendMessageAsync(conversationId, "Probe 4")).EnsureSuccessStatusCode();

        var body = LastRequestAbout("Probe 4").Body;
        Assert.Equal(ProviderHubFixture.DefaultModel, body.Str("model"));
        Assert.Null(body["temperature"]);
    }

    [Fact]
    public async Task Usage_comes_from_the_streams_usage_chunk()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.PromptTokens = 4321;
        _llm.CompletionTokens = 765;

        var reply = await (await client.SendMessageAsync(conversationId, "Probe 5")).JsonAsync();

        var tokens = reply["usage"]!["tokens"]!;
        Assert.Equal(4321, tokens["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(765, tokens["completion_tokens"]!.GetValue<int>());
        Assert.Equal(5086, tokens["total_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Transient_503s_are_retried_and_the_reply_succeeds()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.FailNext(2, 503);

        var response = await client.SendMessageAsync(conversationId, "Probe 6");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("Your order ships today.", (await response.JsonAsync()).Text());
        Assert.Equal(3, _llm.Requests.Count);
        Assert.Single(await client.AllMessagesAsync(conversationId), m => m.Str("from") == "ai");
    }

    [Fact]
    public async Task A_429_with_retry_after_is_retried_and_the_reply_succeeds()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.FailNext(1, 429, retryAfter: "0");

        var response = await client.SendMessageAsync(conversationId, "Probe 7", mode: "streaming");

        var frames = await SseReader.ReadFramesAsync(response);
        Assert.Equal("message_end", frames[^1].Event);
        Assert.Equal("Your order ships today.", string.Concat(frames.Where(f => f.Event == "message").Select(f => f.Data!.Str("delta"))));
        Assert.Equal(2, _llm.Requests.Count);
    }

    [Fact]
    public async Task A_timed_out_llm_attempt_is_retried_and_the_reply_succeeds()
    {
        var settings = LlmHubFixture.LlmSettings(_llm);
        settings["HUB_LLM_TIMEOUT_SECONDS"] = "1";
        await using var hub = HubFixture.With(settings);
        var (client, _, conversationId) = await hub.StartConversationAsync();
        _llm.SlowNext(1, TimeSpan.FromSeconds(10));

        var response = await client.SendMessageAsync(conversationId, "Probe 13");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("Your order ships today.", (await response.JsonAsync()).Text());
        Assert.Equal(2, _llm.Requests.Count);
    }

    [Fact]
    public async Task A_permanent_llm_failure_is_503_unavailable_and_the_user_message_stays_stored()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.FailAlwaysWith = 400;

        var response = await client.SendMessageAsync(conversationId, "Probe 8");

        var problem = await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
        Assert.Single(_llm.Requests); // a 400 is not worth another try
        var stored = Assert.Single(await client.AllMessagesAsync(conversationId));
        Assert.Equal("Probe 8", stored.Str("content"));
        Assert.Equal("user", stored.Str("from"));
        Assert.Equal("failed", stored.Str("reply_status"));
        Assert.Equal(stored.Str("message_id"), problem.Str("message_id"));
    }

    [Fact]
    public async Task Llm_failing_after_every_retry_is_503_unavailable()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.FailAlwaysWith = 503;

        var response = await client.SendMessageAsync(conversationId, "Probe 9");

        await response.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
        Assert.True(_llm.Requests.Count > 1, "transient failures are retried before giving up");
        var stored = Assert.Single(await client.AllMessagesAsync(conversationId));
        Assert.Equal("failed", stored.Str("reply_status"));
    }

    [Fact]
    public async Task A_permanent_llm_failure_ends_the_stream_with_an_error_event()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.FailAlwaysWith = 400;

        var response = await client.SendMessageAsync(conversationId, "Probe 10", mode: "streaming");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();
        var error = Assert.Single(frames);
        Assert.Equal("error", error.Event);
        Assert.Equal("unavailable", error.Data!.Str("code"));
        Assert.False(string.IsNullOrEmpty(error.Data!.Str("message")));
        var stored = Assert.Single(await client.AllMessagesAsync(conversationId));
        Assert.Equal("failed", stored.Str("reply_status"));
    }

    [Fact]
    public async Task After_a_failure_the_next_message_is_answered()
    {
        var (client, _, conversationId) = await _hub.StartConversationAsync();
        _llm.FailAlwaysWith = 400;
        (await client.SendMessageAsync(conversationId, "Probe 11")).Dispose();
        _llm.FailAlwaysWith = null;

        var response = await client.SendMessageAsync(conversationId, "Probe 12");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var messages = await client.AllMessagesAsync(conversationId);
        Assert.Equal(["failed", "answered"], messages.Where(m => m.Str("from") == "user").Select(m => m.Str("reply_status")));
        Assert.Equal([1L, 2, 3], messages.Select(m => m["sequence"]!.GetValue<long>()));
    }
}

/// <summary>The embedded default, with no LLM configured: the offline provider answers from the bot's knowledge.</summary>
public sealed class OfflineProviderTests(HubFixture hub) : IClassFixture<HubFixture>
{
    [Fact]
    public async Task Offline_provider_answers_from_the_best_matching_knowledge_entry()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var shipping = await (await client.SendMessageAsync(conversationId, "When does my order ship?")).JsonAsync();
        var returns = await (await client.SendMessageAsync(conversationId, "Are returns free?")).JsonAsync();

        Assert.Equal("Orders ship within 2 business days.", shipping.Text());
        Assert.Equal("Returns are free for 30 days.", returns.Text());
    }

    [Fact]
    public async Task Offline_provider_uses_the_fallback_text_when_nothing_matches()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync(new
        {
            name = "Shop",
            knowledge = new[] { "Orders ship within 2 business days." },
            fallback_text = "Sorry, I can only help with orders.",
        });

        var reply = await (await client.SendMessageAsync(conversationId, "What is the weather on Mars?")).JsonAsync();

        Assert.Equal("Sorry, I can only help with orders.", reply.Text());
    }

    [Fact]
    public async Task Offline_provider_counts_tokens_rather_than_reporting_zero()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync(new
        {
            name = "Counted",
            knowledge = new[] { "Orders ship within 2 business days." },
            pricing = new { input_credits_per_1k = 1.0, output_credits_per_1k = 1.0 },
        });

        var reply = await (await client.SendMessageAsync(conversationId, "When does my order ship?")).JsonAsync();

        var tokens = reply["usage"]!["tokens"]!;
        var prompt = tokens["prompt_tokens"]!.GetValue<int>();
        var completion = tokens["completion_tokens"]!.GetValue<int>();
        Assert.True(prompt > 0 && completion > 0, "the offline provider counts its tokens");
        Assert.Equal(prompt + completion, tokens["total_tokens"]!.GetValue<int>());
        Assert.Equal((prompt + completion) / 1000d, reply["usage"]!["credits"]!["total_credits"]!.GetValue<double>(), 9);
    }

    [Fact]
    public async Task Offline_provider_streams_the_same_answer()
    {
        var (client, _, conversationId) = await hub.StartConversationAsync();

        var response = await client.SendMessageAsync(conversationId, "When does my order ship?", mode: "streaming");

        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();
        Assert.Equal("message_end", frames[^1].Event);
        Assert.Equal("Orders ship within 2 business days.", string.Concat(frames.Where(f => f.Event == "message").Select(f => f.Data!.Str("delta"))));
        Assert.Equal("Orders ship within 2 business days.", frames[^1].Data!.Text());
    }
}
