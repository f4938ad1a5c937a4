using System.Net;
using System.Text.Json.Nodes;
using Hub.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Hub.IntegrationTests;

/// <summary>
/// Blocking and streaming when the API process holding the caller is not the one that produced the reply: the
/// API processes run only the <c>api</c> role, so every reply comes from the separate AI worker process and has
/// to find its way back to the caller's process (webhook mode: on to the separate dispatcher process).
/// </summary>
public abstract class CrossProcessReplyTests(ReplyClusterFixture fixture, ITestOutputHelper output)
{
    private HubCluster Cluster => fixture.Cluster;

    private async Task<(HubClient OnA, HubClient OnB, string Conversation)> BotAndConversationAsync()
    {
        var (_, key) = await Cluster.Admin(fixture.ApiA).CreateBotAsync();
        var onA = new HubClient(fixture.ApiA, key);
        return (onA, new HubClient(fixture.ApiB, key), await onA.CreateConversationAsync("u-" + Guid.NewGuid().ToString("N")[..8]));
    }

    [Fact]
    public async Task Blocking_reply_produced_by_the_worker_process_comes_back_to_the_accepting_api_process()
    {
        var (onA, _, conversation) = await BotAndConversationAsync();
        var workerCalls = Cluster.Llm.Requests(HubCluster.LlmKeyOf(fixture.Worker.Name));

        using var response = await onA.SendMessageAsync(conversation, "Where is my order?", "blocking");
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body.ToJsonString()}\n{Cluster.LogTails()}");
        Assert.Equal("answered", body["status"]?.GetValue<string>());
        Assert.Equal("ai", body["from"]!.GetValue<string>());
        Assert.Equal(conversation, body["conversation_id"]!.GetValue<string>());
        Assert.Equal(Cluster.Llm.ReplyTo("Where is my order?"), body["output"]![0]!["content"]!["text"]!.GetValue<string>());
        Assert.Equal(FakeLlm.PromptTokens, body["usage"]!["tokens"]!["prompt_tokens"]!.GetValue<int>());
        Assert.True(Cluster.Llm.Requests(HubCluster.LlmKeyOf(fixture.Worker.Name)) > workerCalls, "the worker process called the LLM");
        Assert.Equal(0, Cluster.Llm.Requests(HubCluster.LlmKeyOf(fixture.ApiA.Name)));

        var stored = await onA.MessagesAsync(conversation);
        var user = Assert.Single(stored, m => m["from"]!.GetValue<string>() == "user");
        var reply = Assert.Single(stored, m => m["from"]!.GetValue<string>() == "ai");
        Assert.Equal(user["message_id"]!.GetValue<string>(), body["reply_to"]!.GetValue<string>());
        Assert.Equal(reply["message_id"]!.GetValue<string>(), body["message_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Streaming_reply_produced_by_the_worker_process_streams_every_chunk_to_the_accepting_api_process()
    {
        var (_, onB, conversation) = await BotAndConversationAsync();

        using var response = await onB.SendMessageAsync(conversation, "Are returns free?", "streaming",
            completion: HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await Sse.ReadAllAsync(response);

        output.WriteLine(string.Join(" | ", events.Select(e => e.Event)));
        var deltas = events.Where(e => e.Event == "message").ToList();
        var end = events[^1];
        Assert.True(end.Event == "message_end", $"the stream ends with message_end: {string.Join(", ", events.Select(e => e.Event))}\n{Cluster.LogTails()}");
        Assert.Equal(Cluster.Llm.Chunks, deltas.Count); // every chunk of the model arrived, one event each
        var text = end.Data["output"]![0]!["content"]!["text"]!.GetValue<string>();
        Assert.Equal(Cluster.Llm.ReplyTo("Are returns free?"), text);
        Assert.Equal(text, string.Concat(deltas.Select(d => d.Data["delta"]!.GetValue<string>())));
        Assert.All(deltas, d => Assert.Equal(end.Data["message_id"]!.GetValue<string>(), d.Data["message_id"]!.GetValue<string>()));
        Assert.Equal(conversation, end.Data["conversation_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Concurrent_callers_on_both_api_processes_each_get_their_own_reply()
    {
        var (onA, onB, _) = await BotAndConversationAsync();
        var calls = Enumerable.Range(0, 6).Select(async i =>
        {
            var client = i % 2 == 0 ? onA : onB;
            var mode = i < 3 ? "blocking" : "streaming";
            var conversation = await client.CreateConversationAsync($"u-{i}");
            var content = $"question {i} for {client.Process.Name}";
            using var response = await client.SendMessageAsync(conversation, content, mode, completion: HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var reply = mode == "blocking"
                ? JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject()
                : (await Sse.ReadAllAsync(response)).Last(e => e.Event == "message_end").Data;
            return (Expected: Cluster.Llm.ReplyTo(content), Got: reply["output"]![0]!["content"]!["text"]!.GetValue<string>(),
                Conversation: conversation, ReplyConversation: reply["conversation_id"]!.GetValue<string>());
        }).ToList();

        foreach (var call in await Task.WhenAll(calls))
        {
            Assert.Equal(call.Expected, call.Got);
            Assert.Equal(call.Conversation, call.ReplyConversation);
        }
    }

    [Fact]
    public async Task Webhook_reply_is_produced_by_the_worker_process_and_delivered_by_the_dispatcher_process()
    {
        var (_, key) = await Cluster.Admin(fixture.ApiA).CreateBotAsync(webhookUrl: Cluster.Receiver.Url);
        var onB = new HubClient(fixture.ApiB, key);
        var conversation = await onB.CreateConversationAsync("u-webhook");

        using var response = await onB.SendMessageAsync(conversation, "Send it to my CRM", "webhook");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var messageId = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message_id"]!.GetValue<string>();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        ReceivedWebhook? delivered;
        while ((delivered = Cluster.Receiver.Received.FirstOrDefault(r => r.Type == "message.reply"
                   && r.Data["reply_to"]?.GetValue<string>() == messageId)) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no message.reply for {messageId}\n{Cluster.LogTails()}");
            await Task.Delay(50);
        }
        Assert.StartsWith("evt_", delivered.WebhookId);
        Assert.Equal(Cluster.Llm.ReplyTo("Send it to my CRM"), delivered.Data["output"]![0]!["content"]!["text"]!.GetValue<string>());
    }

    [Fact]
    public void The_processes_share_one_SQLite_file_in_WAL_mode()
    {
        // The database header's read and write format versions (bytes 18 and 19) are 2 in WAL mode.
        using var file = new FileStream(Cluster.DatabasePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var header = new byte[20];
        file.ReadExactly(header);
        Assert.Equal("SQLite format 3\0", System.Text.Encoding.ASCII.GetString(header, 0, 16));
        Assert.Equal(2, (int)header[18]);
        Assert.Equal(2, (int)header[19]);
        Assert.All(Cluster.Processes, p => Assert.True(p.IsUp));
    }

    [Fact]
    public async Task Every_process_serves_healthz_and_readyz_whatever_its_roles()
    {
        // One process per role set: api (twice), ai-worker, dispatcher.
        Assert.Equal(["api-a", "api-b", "dispatcher", "worker"], Cluster.Processes.Select(p => p.Name).Order().ToArray());
        using var http = new HttpClient();
        foreach (var process in Cluster.Processes)
        {
            using var live = await http.GetAsync(new Uri(process.BaseAddress, "healthz"));
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);

            using var ready = await http.GetAsync(new Uri(process.BaseAddress, "readyz"));
            var body = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!.AsObject();
            output.WriteLine($"{process}: {body.ToJsonString()}");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("healthy", body["status"]!.GetValue<string>());
            var checks = body["checks"]!.AsObject();
            Assert.Contains("database", checks.Select(c => c.Key));
            Assert.True(checks.Count > (fixture.UsesRedis ? 2 : 1), $"the broker is checked too: {body.ToJsonString()}");
            if (fixture.UsesRedis) Assert.Contains("redis", checks.Select(c => c.Key));
        }
    }
}

[Collection(RedisClusterCollection.Name)]
public sealed class CrossProcessRepliesOverRedis(RedisClusterFixture fixture, ITestOutputHelper output)
    : CrossProcessReplyTests(fixture, output);

public sealed class CrossProcessRepliesOverTheBus(BusClusterFixture fixture, ITestOutputHelper output)
    : CrossProcessReplyTests(fixture, output), IClassFixture<BusClusterFixture>;
