using System.Net;
using System.Net.Http.Json;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Inbox;

/// <summary>A hub whose LLM is <see cref="ToolCallingLlm"/>.</summary>
public sealed class ToolCallingHubFixture : InboxHubFixture
{
    public ToolCallingLlm Llm { get; private set; } = null!;

    protected override async Task<IDictionary<string, string?>> ExtraSettingsAsync()
    {
        Llm = await ToolCallingLlm.StartAsync();
        return new Dictionary<string, string?>
        {
            ["HUB_LLM_BASE_URL"] = Llm.BaseUrl,
            ["HUB_LLM_API_KEY"] = "sk-test",
            ["HUB_LLM_RETRY_DELAY_MS"] = "10",
        };
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Llm.DisposeAsync();
    }
}

/// <summary>
/// The LLM's <c>handoff_to_human</c> tool, and the in-flight race: a handoff that happens while the model
/// is still producing a reply means that reply is never stored or sent.
/// </summary>
public sealed class LlmHandoffTests(ToolCallingHubFixture fixture) : IClassFixture<ToolCallingHubFixture>
{
    private static readonly TimeSpan SlowModel = TimeSpan.FromSeconds(2);

    private readonly HubFixture _hub = fixture.Hub;
    private readonly WebhookReceiver _receiver = fixture.Receiver;
    private readonly ToolCallingLlm _llm = fixture.Llm;

    [Fact]
    public async Task The_hub_offers_the_handoff_to_human_tool_to_the_model()
    {
        var bot = await _hub.CreateInboxBotAsync();
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, "Offer me your tools");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal(_llm.ReplyText, (await response.JsonAsync()).Text());
        var request = await _llm.RequestAbout("Offer me your tools");
        var tool = Assert.Single(request["tools"]!.AsArray(), t => t!["function"]?["name"]?.GetValue<string>() == ToolCallingLlm.HandoffTool);
        Assert.Equal("function", tool!.Str("type"));
    }

    [Fact]
    public async Task The_model_calling_handoff_to_human_hands_off_a_blocking_message()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, "Could a real person look at my invoice?");

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("handed_off", (await response.JsonAsync()).Str("status"));
        Assert.Equal("pending_human", await bot.Client.StatusAsync(conversationId));
        var webhook = await _receiver.EventForAsync("conversation.handoff_requested", conversationId);
        Assert.Equal("bot", webhook.Data.Str("previous_status"));
        var user = Assert.Single(await bot.Client.AllMessagesAsync(conversationId));
        Assert.Equal("skipped", user.Str("reply_status"));
    }

    [Fact]
    public async Task The_model_calling_handoff_to_human_ends_a_stream_with_a_handoff_event()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, "I need a person", mode: "streaming");

        var frames = (await SseReader.ReadFramesAsync(response)).Where(f => !f.IsPing).ToList();
        var handoff = Assert.Single(frames);
        Assert.Equal("handoff", handoff.Event);
        Assert.Equal("handed_off", handoff.Data!.Str("status"));
        Assert.Equal("pending_human", await bot.Client.StatusAsync(conversationId));
        Assert.Single(await bot.Client.DeliveriesAsync(conversationId, "conversation.handoff_requested"));
    }

    [Fact]
    public async Task A_handoff_while_a_blocking_reply_is_in_flight_answers_handed_off_and_stores_no_ai_reply()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();
        const string question = "Race blocking: where is my parcel?";
        _llm.SlowFor[question] = SlowModel;

        var sending = bot.Client.SendMessageAsync(conversationId, question);
        await _llm.RequestAbout(question).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.False(sending.IsCompleted, "the model is still thinking");
        var handoff = await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null);
        await handoff.AssertStatusAsync(HttpStatusCode.OK);

        var response = await sending;
        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal("handed_off", (await response.JsonAsync()).Str("status"));
        await AssertNoAiReplyAsync(bot, conversationId);
    }

    [Fact]
    public async Task A_handoff_while_a_streamed_reply_is_in_flight_ends_the_stream_with_handoff_and_stores_no_ai_reply()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();
        const string question = "Race streaming: where is my parcel?";
        _llm.SlowFor[question] = SlowModel;

        var sending = bot.Client.SendMessageAsync(conversationId, question, mode: "streaming");
        await _llm.RequestAbout(question).WaitAsync(TimeSpan.FromSeconds(15));
        var handoff = await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null);
        await handoff.AssertStatusAsync(HttpStatusCode.OK);

        var frames = (await SseReader.ReadFramesAsync(await sending)).Where(f => !f.IsPing).ToList();
        Assert.Equal("handoff", frames[^1].Event);
        Assert.DoesNotContain(frames, f => f.Event == "message_end");
        await AssertNoAiReplyAsync(bot, conversationId);
    }

    [Fact]
    public async Task A_handoff_while_a_webhook_reply_is_in_flight_sends_no_message_reply()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();
        const string question = "Race webhook: where is my parcel?";
        _llm.SlowFor[question] = SlowModel;

        var accepted = await bot.Client.SendMessageAsync(conversationId, question, mode: "webhook");
        await accepted.AssertStatusAsync(HttpStatusCode.Accepted);
        await _llm.RequestAbout(question).WaitAsync(TimeSpan.FromSeconds(15));
        var handoff = await bot.Client.PostAsync($"/v1/conversations/{conversationId}/handoff", null);
        await handoff.AssertStatusAsync(HttpStatusCode.OK);

        // The worker settles the message once the model has finished; only then is "nothing sent" meaningful.
        await Eventually.GetAsync(async () => (await bot.Client.AllMessagesAsync(conversationId))
            .FirstOrDefault(m => m.Str("from") == "user" && m["reply_status"]?.GetValue<string>() == "skipped"), "the reply to be dropped");
        await AssertNoAiReplyAsync(bot, conversationId);
        Assert.Empty(await bot.Client.DeliveriesAsync(conversationId, "message.reply"));
        Assert.DoesNotContain(_receiver.Received, r => r.Type == "message.reply" && r.Data.Str("conversation_id") == conversationId);
    }

    private static async Task AssertNoAiReplyAsync(InboxBot bot, string conversationId)
    {
        var messages = await bot.Client.AllMessagesAsync(conversationId);
        Assert.DoesNotContain(messages, m => m.IsAi());
        var user = Assert.Single(messages);
        Assert.Equal("skipped", user.Str("reply_status"));
        Assert.Equal("pending_human", await bot.Client.StatusAsync(conversationId));
    }

    [Fact]
    public async Task After_hand_back_the_model_answers_again()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var agent = await _hub.CreateAgentAsync([bot.Id]);
        var conversationId = await bot.NewConversationAsync();
        (await bot.Client.SendMessageAsync(conversationId, "Let me speak to a person")).EnsureSuccessStatusCode();
        await (await agent.Client.InboxActAsync(conversationId, "claim")).AssertStatusAsync(HttpStatusCode.OK);
        await (await agent.Client.InboxActAsync(conversationId, "hand-back")).AssertStatusAsync(HttpStatusCode.OK);

        var response = await bot.Client.SendMessageAsync(conversationId, "Thanks, back to you bot");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var reply = await response.JsonAsync();
        Assert.Equal("ai", reply.Str("from"));
        Assert.Equal(_llm.ReplyText, reply.Text());
        Assert.Equal(15, reply["usage"]!["tokens"]!["total_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task The_models_handoff_reason_is_stored_on_the_conversation_and_sent_in_the_webhook()
    {
        var bot = await _hub.CreateInboxBotAsync(_receiver.Url);
        var conversationId = await bot.NewConversationAsync();

        var response = await bot.Client.SendMessageAsync(conversationId, "Could a person check my invoice, please?");

        await response.AssertStatusAsync(HttpStatusCode.Accepted);
        Assert.Equal(ToolCallingLlm.HandoffReason, (await bot.Client.ConversationAsync(conversationId)).Str("handoff_reason"));
        var webhook = await _receiver.EventForAsync("conversation.handoff_requested", conversationId);
        Assert.Equal(ToolCallingLlm.HandoffReason, webhook.Data.Str("handoff_reason"));
    }
}
