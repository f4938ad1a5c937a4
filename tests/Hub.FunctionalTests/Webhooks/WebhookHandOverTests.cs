using System.Net;
using System.Net.Http.Json;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Webhooks;

/// <summary>
/// A caller that stops waiting (blocking timeout, or a dropped connection) still gets the reply, by webhook,
/// once. The model is a fake OpenAI server that takes longer than the caller waits.
/// </summary>
public sealed class WebhookHandOverTests : IAsyncLifetime
{
    private static readonly TimeSpan SlowModel = TimeSpan.FromSeconds(2.5);
    private FakeOpenAiServer _llm = null!;
    private HubFixture _hub = null!;

    public async Task InitializeAsync()
    {
        _llm = await FakeOpenAiServer.StartAsync();
        _llm.FirstChunkDelay = SlowModel;
        _hub = WebhookHub.Start(extra: new Dictionary<string, string?>
        {
            ["HUB_LLM_BASE_URL"] = _llm.BaseUrl,
            ["HUB_LLM_API_KEY"] = "sk-test",
        });
    }

    [Fact]
    public async Task A_blocking_call_that_times_out_still_gets_its_reply_by_webhook_exactly_once()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var bot = await _hub.CreateWebhookBotAsync(receiver.Url, customise: b => b["blocking_timeout_seconds"] = 1);
        var conversationId = await bot.NewConversationAsync();
        var asked = _llm.Requests.Count;

        using var response = await bot.Client.SendMessageAsync(conversationId, "Where is my order?");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var pending = await response.JsonAsync();
        Assert.Equal("pending", pending.Value("status"));
        var messageId = pending.Value("message_id");
        await AssertRepliedOnceByWebhookAsync(receiver, bot, conversationId, messageId, asked);
    }

    [Theory]
    [InlineData("blocking")]
    [InlineData("streaming")]
    public async Task A_caller_that_hangs_up_before_the_reply_gets_it_by_webhook_exactly_once(string mode)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var bot = await _hub.CreateWebhookBotAsync(receiver.Url);
        var conversationId = await bot.NewConversationAsync();
        var asked = _llm.Requests.Count;

        using (var hangUp = new CancellationTokenSource())
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/conversations/{conversationId}/messages")
            {
                Content = JsonContent.Create(new { content = "Where is my order?", response_mode = mode }),
            };
            var sending = bot.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, hangUp.Token);
            await Eventually.GetAsync(() => Task.FromResult(_llm.Requests.Count > asked ? "" : null), "the model to be asked");
            await hangUp.CancelAsync();
            try { (await sending).Dispose(); } catch (OperationCanceledException) { }
        }

        var userMessage = await Eventually.GetAsync(async () =>
        {
            var messages = await (await bot.Client.GetAsync($"/v1/conversations/{conversationId}/messages")).JsonAsync();
            return messages["data"]!.AsArray().FirstOrDefault(m => m!.Value("from") == "user")?.AsObject();
        }, "the user message");
        await AssertRepliedOnceByWebhookAsync(receiver, bot, conversationId, userMessage.Value("message_id"), asked);
    }

    private async Task AssertRepliedOnceByWebhookAsync(WebhookReceiver receiver, WebhookBot bot, string conversationId, string messageId, int askedBefore)
    {
        var webhook = await receiver.WaitForEventAsync("message.reply");
        webhook.AssertSignedBy(bot.Secret);
        var data = webhook.AssertEnvelope("message.reply");
        Assert.Equal(conversationId, data.Value("conversation_id"));
        Assert.Equal(messageId, data.Value("reply_to"));
        Assert.Equal("Your order ships today.", data["output"]![0]!["content"]!["text"]!.GetValue<string>());
        Assert.Equal(2, data["sequence"]!.GetValue<long>());
        await bot.Client.WaitForStatusAsync(webhook.Id, "succeeded");

        await Task.Delay(TimeSpan.FromMilliseconds(600)); // a dozen scheduler polls: room for a duplicate to show
        Assert.Single(receiver.Received);
        Assert.Single((await bot.Client.ListDeliveriesAsync()).Items());
        Assert.Equal(askedBefore + 1, _llm.Requests.Count);
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        await _llm.DisposeAsync();
    }
}
