using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using Hub.Core.Data;
using Hub.FunctionalTests.Infrastructure;
using Hub.FunctionalTests.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace Hub.FunctionalTests.Telemetry;

/// <summary>
/// One trace from the request that accepts a message, across the bus, through the LLM call, to every webhook
/// try it causes (API.md, Observability), seen by an in-process ActivityListener and by the receiver's headers.
/// Other tests' hubs run meanwhile: everything is matched by the trace ID this test chose.
/// </summary>
public sealed partial class TraceTests
{
    [Fact]
    public async Task A_callers_trace_runs_from_the_request_across_the_bus_and_the_llm_to_every_webhook_try()
    {
        var traceId = ActivityTraceId.CreateRandom();
        var callerSpan = ActivitySpanId.CreateRandom();
        using var recorder = new ActivityRecorder(traceId);
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var hub = WebhookHub.Start();
        using var bot = await hub.CreateWebhookBotAsync(receiver.Url);
        var conversation = await bot.NewConversationAsync();
        receiver.FailNext(1);

        using (var request = Message(conversation, $"00-{traceId}-{callerSpan}-01"))
        using (var response = await bot.Client.SendAsync(request))
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var tries = await receiver.WaitForAsync(2);

        // Both tries, the failed one and its retry, carry a traceparent of the caller's trace, each from a span of its own.
        var parents = tries.Select(t => TraceParent(t.Header("traceparent"))).ToList();
        Assert.All(parents, p => Assert.Equal(traceId.ToHexString(), p.TraceId));
        Assert.NotEqual(parents[0].SpanId, parents[1].SpanId);

        // A span is recorded when it ends, and some end after the receiver has its POST: wait for the whole trace.
        var spans = await recorder.WaitForAsync(s =>
            s.Count(a => a.Source.Name == "Hub.Webhooks") == 2 && s.Count(a => a.Source.Name == "System.Net.Http") == 2
            && s.Any(a => a.Source.Name == "Hub.Llm") && s.Any(a => a.Source.Name == "MassTransit" && a.Kind == ActivityKind.Consumer)
            && Connected(s, callerSpan), "the request, consume, LLM, webhook and HTTP spans, all connected");
        var intake = Assert.Single(spans, a => a.ParentSpanId == callerSpan);
        Assert.Equal("Microsoft.AspNetCore", intake.Source.Name);
        Assert.Equal(ActivityKind.Server, intake.Kind);
        Assert.Contains(spans, a => a.Source.Name == "MassTransit" && a.Kind == ActivityKind.Consumer);
        var llm = Assert.Single(spans, a => a.Source.Name == "Hub.Llm");
        Assert.Equal("chat offline", llm.DisplayName);
        Assert.Equal("offline", llm.GetTagItem("gen_ai.provider.name"));
        var webhookSpans = spans.Where(a => a.Source.Name == "Hub.Webhooks").OrderBy(a => a.StartTimeUtc).ToList();
        Assert.Equal([1, 2], webhookSpans.Select(a => (int)a.GetTagItem("hub.webhook.attempt")!));
        Assert.Equal(ActivityStatusCode.Error, webhookSpans[0].Status);
        // Each POST's traceparent names its HTTP client span, a child of that try's span.
        foreach (var (parent, webhookSpan) in parents.Zip(webhookSpans))
        {
            var http = Assert.Single(spans, a => a.SpanId.ToHexString() == parent.SpanId);
            Assert.Equal(webhookSpan.SpanId, http.ParentSpanId);
        }
        // One connected trace: every span's parent is the caller's span or another span of the trace.
        Assert.True(Connected(spans, callerSpan));
    }

    private static bool Connected(IReadOnlyList<Activity> spans, ActivitySpanId root)
    {
        var known = spans.Select(a => a.SpanId).Append(root).ToHashSet();
        return spans.All(a => known.Contains(a.ParentSpanId));
    }

    [Fact]
    public async Task A_retry_after_a_restart_joins_the_trace_of_the_request_that_caused_it()
    {
        var traceId = ActivityTraceId.CreateRandom();
        await using var receiver = await WebhookReceiver.StartAsync();
        var database = HubFixture.NewDatabasePath();
        WebhookBot? bot = null;
        var first = WebhookHub.Start(schedule: "2s", databasePath: database);
        try
        {
            bot = await first.CreateWebhookBotAsync(receiver.Url);
            var conversation = await bot.NewConversationAsync();
            receiver.FailAlways();
            using var request = Message(conversation, $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
            using var response = await bot.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            await receiver.WaitForAsync(1);

            // The trace context is stored with the delivery: it is all a later try has of the request.
            using var scope = first.Services.CreateScope();
            await using var c = await scope.ServiceProvider.GetRequiredService<HubDb>().OpenAsync(default);
            var stored = await c.QuerySingleAsync<string>("SELECT trace_parent FROM deliveries WHERE conversation_id = @conversation", new { conversation });
            Assert.Equal(traceId.ToHexString(), TraceParent(stored).TraceId);
        }
        finally
        {
            bot?.Dispose();
            await first.StopKeepingDatabaseAsync();
        }

        receiver.SucceedFromNowOn();
        var restartedAt = DateTimeOffset.UtcNow;
        await using var second = WebhookHub.Start(schedule: "2s", databasePath: database);
        _ = second.Server; // starts the dispatcher, which finds the retry in the store

        var retry = (await receiver.WaitForAsync(1, r => r.ReceivedAt > restartedAt && r.AnsweredStatus == 200))[0];
        Assert.Equal(traceId.ToHexString(), TraceParent(retry.Header("traceparent")).TraceId);
    }

    [Fact]
    public async Task A_reply_redriven_after_a_restart_joins_the_trace_of_the_request_that_accepted_its_message()
    {
        var traceId = ActivityTraceId.CreateRandom();
        await using var receiver = await WebhookReceiver.StartAsync();
        var database = HubFixture.NewDatabasePath();
        var apiOnly = WebhookHub.Start(extra: new Dictionary<string, string?> { ["HUB_ROLES"] = "api" }, databasePath: database);
        try
        {
            // No worker runs: the message waits in the store, with the trace of the request that accepted it.
            using var bot = await apiOnly.CreateWebhookBotAsync(receiver.Url);
            var conversation = await bot.NewConversationAsync();
            using var request = Message(conversation, $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
            using var response = await bot.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }
        finally
        {
            await apiOnly.StopKeepingDatabaseAsync();
        }

        // A hub with a worker re-drives it at start; the reply's webhook belongs to the original trace.
        await using var full = WebhookHub.Start(databasePath: database);
        _ = full.Server;
        var reply = await receiver.WaitForEventAsync("message.reply");
        Assert.Equal(traceId.ToHexString(), TraceParent(reply.Header("traceparent")).TraceId);
    }

    [Fact]
    public async Task Each_agent_action_over_the_inbox_hub_is_a_trace_of_its_own_not_the_connections()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var hub = HubFixture.With(Hub.FunctionalTests.Inbox.InboxKit.Settings());
        var bot = await Hub.FunctionalTests.Inbox.InboxKit.CreateInboxBotAsync(hub, receiver.Url);
        var agent = await Hub.FunctionalTests.Inbox.InboxKit.CreateAgentAsync(hub, [bot.Id]);
        await using var inbox = await Hub.FunctionalTests.Inbox.SignalRTestClient.ConnectAsync(hub.Server, agent.Token);
        var conversation = await Hub.FunctionalTests.Inbox.InboxKit.NewConversationAsync(bot);
        Assert.Null((await inbox.InvokeAsync("Claim", conversation))["error"]);

        Assert.Null((await inbox.InvokeAsync("Reply", conversation, "First answer."))["error"]);
        Assert.Null((await inbox.InvokeAsync("Reply", conversation, "Second answer."))["error"]);

        var replies = await receiver.WaitForAsync(2, r => r.Type == "message.reply");
        var traces = replies.Select(r => TraceParent(r.Header("traceparent")).TraceId).ToList();
        Assert.NotEqual(traces[0], traces[1]);
    }

    [Fact]
    public async Task A_webhook_post_carries_a_traceparent_when_the_caller_sent_none()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var hub = WebhookHub.Start();
        using var bot = await hub.CreateWebhookBotAsync(receiver.Url);
        var conversation = await bot.NewConversationAsync();

        await bot.SendWebhookMessageAsync(conversation);

        var webhook = await receiver.WaitForEventAsync("message.reply");
        var parent = TraceParent(webhook.Header("traceparent"));
        Assert.NotEqual(new string('0', 32), parent.TraceId);
    }

    [Fact]
    public async Task Every_problem_carries_the_trace_id_of_its_request()
    {
        await using var hub = new HubFixture();
        using var admin = hub.Admin();
        var traceId = ActivityTraceId.CreateRandom().ToHexString();

        using var notFound = new HttpRequestMessage(HttpMethod.Get, "/v1/conversations/conv_unknown");
        notFound.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        var problem = await (await admin.SendAsync(notFound)).AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        Assert.Equal(traceId, problem.Str("trace_id"));

        // Without a traceparent the request starts a trace of its own, and the problem names it.
        var invalid = await (await admin.PostAsync("/v1/bots", new StringContent("{\"name\": 5}", System.Text.Encoding.UTF8, "application/json")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.Matches("^[0-9a-f]{32}$", invalid.Str("trace_id"));
        using var anonymous = hub.CreateClient();
        var unauthorized = await (await anonymous.GetAsync("/v1/bots")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Matches("^[0-9a-f]{32}$", unauthorized.Str("trace_id"));
        Assert.NotEqual(invalid.Str("trace_id"), unauthorized.Str("trace_id"));
    }

    private static HttpRequestMessage Message(string conversationId, string traceParent)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/conversations/{conversationId}/messages")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { content = WebhookTestKit.Question, response_mode = "webhook" }),
        };
        request.Headers.Add("traceparent", traceParent);
        return request;
    }

    private static (string TraceId, string SpanId) TraceParent(string? header)
    {
        Assert.False(header is null, "no traceparent header");
        var match = W3CTraceParent().Match(header);
        Assert.True(match.Success, $"not a W3C traceparent: {header}");
        return (match.Groups[1].Value, match.Groups[2].Value);
    }

    [GeneratedRegex("^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")]
    private static partial Regex W3CTraceParent();

    /// <summary>Records every finished activity of one trace, from any source, while it lives.</summary>
    private sealed class ActivityRecorder : IDisposable
    {
        private readonly ConcurrentQueue<Activity> _stopped = new();
        private readonly ActivityListener _listener;

        public ActivityRecorder(ActivityTraceId traceId)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = _ => true,
                Sample = (ref ActivityCreationOptions<ActivityContext> o) =>
                    o.TraceId == traceId || o.Parent.TraceId == traceId ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.None,
                ActivityStopped = a =>
                {
                    if (a.TraceId == traceId) _stopped.Enqueue(a);
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public async Task<IReadOnlyList<Activity>> WaitForAsync(Func<IReadOnlyList<Activity>, bool> done, string waitingFor)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                var spans = _stopped.ToList();
                if (done(spans)) return spans;
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"Gave up waiting for {waitingFor}; spans: {string.Join(", ", spans.Select(a => $"{a.Source.Name}/{a.DisplayName}"))}");
                await Task.Delay(20);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
