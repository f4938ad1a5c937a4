using Hub.TestSupport;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Hub.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Hub.IntegrationTests;

/// <summary>
/// An API process, an AI worker and a dispatcher on RabbitMQ, with or without telemetry. Each class runs one
/// webhook-mode message, sent with the caller's own <c>traceparent</c>, to a receiver that fails the first try:
/// once, however many tests look at it, so the counters each process shows are that one message's.
/// </summary>
public abstract class TelemetryClusterFixture(bool telemetry) : IAsyncLifetime
{
    private Lazy<Task<WebhookRun>> _run = null!;

    public bool Telemetry { get; } = telemetry;
    public OtlpReceiver? Otlp { get; private set; }
    public HubCluster Cluster { get; private set; } = null!;
    public HubProcess Api { get; private set; } = null!;
    public HubProcess Worker { get; private set; } = null!;
    public HubProcess Dispatcher { get; private set; } = null!;

    /// <summary>How long anything crossing the processes may take (generous: two cores, other suites running).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string>
        {
            // The first try fails; the retry comes a second later (±20 %), not 5 s.
            ["HUB_WEBHOOK_RETRY_SCHEDULE"] = "1s",
        };
        try
        {
            if (Telemetry)
            {
                Otlp = await OtlpReceiver.StartAsync();
                settings["HUB_METRICS"] = "true";
                settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = Otlp.Endpoint;
                settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
                // Spans within 200 ms of their end, metrics every second: the test polls for them.
                settings["OTEL_BSP_SCHEDULE_DELAY"] = "200";
                settings["OTEL_METRIC_EXPORT_INTERVAL"] = "1000";
            }
            Cluster = await HubCluster.CreateAsync(withRedis: false, settings);
            var processes = await Task.WhenAll(
                Start("api", "api", "hub-api"),
                Start("worker", "ai-worker", "hub-worker"),
                Start("dispatcher", "dispatcher", "hub-dispatcher"));
            (Api, Worker, Dispatcher) = (processes[0], processes[1], processes[2]);
            _run = new Lazy<Task<WebhookRun>>(SendOneWebhookMessageAsync);
        }
        catch
        {
            // A fixture whose start failed is not disposed by xunit: end what did start now.
            await DisposeAsync();
            throw;
        }
    }

    private Task<HubProcess> Start(string name, string roles, string service) =>
        Cluster.StartAsync(name, roles, Telemetry ? new Dictionary<string, string> { ["OTEL_SERVICE_NAME"] = service } : null);

    /// <summary>The one message of this cluster, sent by whichever test asks first.</summary>
    public Task<WebhookRun> Run => _run.Value;

    private async Task<WebhookRun> SendOneWebhookMessageAsync()
    {
        var (_, key) = await Cluster.Admin(Api).CreateBotAsync(webhookUrl: Cluster.Receiver.Url);
        var client = new HubClient(Api, key);
        var conversation = await client.CreateConversationAsync("u-traced");
        Cluster.Receiver.FailFirst = 1;
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        var callerSpanId = ActivitySpanId.CreateRandom().ToHexString();

        using var response = await client.SendMessageAsync(conversation, "Trace me to my CRM", "webhook",
            headers: new Dictionary<string, string> { ["traceparent"] = $"00-{traceId}-{callerSpanId}-01" });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode} {text}");
        var messageId = JsonNode.Parse(text)!["message_id"]!.GetValue<string>();

        var posts = await Poll.UntilAsync(
            () => Cluster.Receiver.Received.Where(r => r.Type == "message.reply" && r.Data["reply_to"]?.GetValue<string>() == messageId).ToList(),
            received => received.Count >= 2,
            received => $"{received.Count} of 2 webhook POSTs (a failed try and its retry) for {messageId}\n{Cluster.LogTails()}");
        return new WebhookRun(traceId, callerSpanId, messageId, posts);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (Cluster is not null) await Cluster.DisposeAsync();
        }
        finally
        {
            if (Otlp is not null) await Otlp.DisposeAsync();
        }
    }
}

/// <summary>The traced message: the caller's trace and span ids, its message id, and the webhook POSTs it caused.</summary>
public sealed record WebhookRun(string TraceId, string CallerSpanId, string MessageId, IReadOnlyList<ReceivedWebhook> Posts)
{
    /// <summary>A <c>traceparent</c> (<c>00-{trace-id}-{parent-id}-{flags}</c>) as its trace id and parent id.</summary>
    public static (string TraceId, string ParentId) Parse(string? traceParent)
    {
        var parts = (traceParent ?? "").Split('-');
        Assert.True(parts is [{ Length: 2 }, { Length: 32 }, { Length: 16 }, { Length: 2 }], $"not a W3C traceparent: '{traceParent}'");
        return (parts[1], parts[2]);
    }
}

public sealed class TelemetryOnClusterFixture() : TelemetryClusterFixture(telemetry: true);

public sealed class TelemetryOffClusterFixture() : TelemetryClusterFixture(telemetry: false);

/// <summary>Polls with a deadline (never a fixed sleep): returns the first value that satisfies the condition.</summary>
public static class Poll
{
    public static async Task<T> UntilAsync<T>(Func<T> read, Func<T, bool> done, Func<T, string> failure, TimeSpan? timeout = null) =>
        await UntilAsync(() => Task.FromResult(read()), done, failure, timeout);

    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, Func<T, string> failure, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TelemetryClusterFixture.Patience);
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            Assert.True(DateTime.UtcNow < deadline, "gave up waiting: " + failure(value));
            await Task.Delay(100);
        }
    }
}

/// <summary>
/// Operators see inside across separate processes (API.md, Observability): with OTLP export and <c>/metrics</c> on
/// in every process, one message's trace runs from the HTTP request that accepts it, across RabbitMQ, through the
/// LLM call in the worker, to both webhook tries in the dispatcher (the retry's trace comes from the store), and
/// each process counts its part of the message.
/// </summary>
public sealed class TelemetryAcrossProcessesTests(TelemetryOnClusterFixture fixture, ITestOutputHelper output)
    : IClassFixture<TelemetryOnClusterFixture>
{
    private HubCluster Cluster => fixture.Cluster;
    private OtlpReceiver Otlp => fixture.Otlp!;

    [Fact]
    public async Task Both_webhook_tries_carry_a_traceparent_of_the_callers_trace()
    {
        var run = await fixture.Run;

        var (failed, retried) = (run.Posts[0], run.Posts[1]);
        Assert.Equal(500, failed.AnsweredWith);
        Assert.Equal(200, retried.AnsweredWith);
        Assert.Equal(failed.WebhookId, retried.WebhookId); // one delivery, tried twice
        var first = WebhookRun.Parse(failed.TraceParent);
        var second = WebhookRun.Parse(retried.TraceParent);
        Assert.Equal(run.TraceId, first.TraceId);
        Assert.Equal(run.TraceId, second.TraceId);
        // Each try is a span of its own within the trace, not the caller's span passed through.
        Assert.NotEqual(first.ParentId, second.ParentId);
        Assert.NotEqual(run.CallerSpanId, first.ParentId);
    }

    [Fact]
    public async Task Every_process_exports_its_spans_of_the_callers_trace_over_otlp()
    {
        var run = await fixture.Run;
        var postSpans = run.Posts.Select(p => WebhookRun.Parse(p.TraceParent).ParentId).ToList();

        // Spans end (and are exported) a little after the work they time: wait for the last of them.
        var spans = await Poll.UntilAsync(
            () => Otlp.Spans().Where(s => s.TraceId == run.TraceId).ToList(),
            trace => Has(trace, "hub-api", s => s.ParentSpanId == run.CallerSpanId)
                     && Has(trace, "hub-worker", s => s.Scope == "Hub.Llm")
                     && trace.Count(s => s.Service == "hub-dispatcher" && s.Name == "webhook send") >= 2
                     && postSpans.All(id => trace.Any(s => s.Service == "hub-dispatcher" && s.SpanId == id)),
            trace => $"spans of trace {run.TraceId} so far:\n{Describe(trace)}\nall services seen: "
                     + string.Join(", ", Otlp.Spans().Select(s => s.Service).Distinct()));
        output.WriteLine(Describe(spans));

        Assert.Equal(["hub-api", "hub-dispatcher", "hub-worker"], spans.Select(s => s.Service).Distinct().Order().ToArray());
        // The API's server span continues the caller's span, so the caller's trace is the one everything joins.
        Assert.Contains(spans, s => s.Service == "hub-api" && s.Scope == "Microsoft.AspNetCore" && s.ParentSpanId == run.CallerSpanId);
        // The bus carried the trace: MassTransit's spans are in the API (publish) and the worker (consume).
        Assert.Contains(spans, s => s.Service == "hub-api" && s.Scope == "MassTransit");
        Assert.Contains(spans, s => s.Service == "hub-worker" && s.Scope == "MassTransit");
        Assert.Contains(spans, s => s.Service == "hub-worker" && s.Scope == "Hub.Llm" && s.Name == "chat fake-model");
        // Every try is a "webhook send" span; the POST's traceparent names a span the dispatcher exported in that trace.
        var sends = spans.Where(s => s.Service == "hub-dispatcher" && s.Name == "webhook send").ToList();
        Assert.Equal(2, sends.Count);
        // Both tries hang off the span that recorded the event, in another process: the retry found the trace in the store.
        var recordedBy = Assert.Single(spans, s => s.SpanId == Assert.Single(sends.Select(s => s.ParentSpanId).Distinct()));
        Assert.NotEqual("hub-dispatcher", recordedBy.Service);
        Assert.All(postSpans, id => Assert.Contains(spans, s => s.Service == "hub-dispatcher" && s.SpanId == id));
        // And no span of the trace is an orphan: each one's parent is the caller's span or another exported span.
        var ids = spans.Select(s => s.SpanId).Append(run.CallerSpanId).ToHashSet();
        Assert.All(spans, s => Assert.True(ids.Contains(s.ParentSpanId), $"{s} has a parent outside the trace"));
    }

    [Fact]
    public async Task Each_process_metrics_endpoint_counts_the_message_its_reply_and_both_webhook_tries()
    {
        var run = await fixture.Run;
        // Each process counts a moment after the work the test saw (the dispatcher's after the receiver answered).
        var api = await ScrapeUntilAsync(fixture.Api, m => m.Value("hub_messages_accepted_total", ("mode", "webhook")) >= 1);
        var worker = await ScrapeUntilAsync(fixture.Worker, m => m.Value("hub_replies_total", ("from", "ai"), ("outcome", "answered")) >= 1
                                                                 && m.Value("hub_llm_request_duration_seconds_count") >= 1);
        // The pending count is the store's, counted at most once a second and written after the try: it reaches 0 a little later.
        var dispatcher = await ScrapeUntilAsync(fixture.Dispatcher, m => m.Value("hub_webhook_attempts_total", ("outcome", "succeeded")) >= 1
                                                                         && m.Value("hub_webhook_delivery_lag_seconds_count") >= 1
                                                                         && m.Value("hub_deliveries_pending") == 0);

        Assert.Equal(1, api.Value("hub_messages_accepted_total", ("mode", "webhook")));
        Assert.Equal(1, api.Value("hub_messages_accepted_total"));
        Assert.Contains(api.Find("http_server_request_duration_seconds_count"), s => s.Labels.GetValueOrDefault("http_route") == "/v1/conversations/{id}/messages");

        Assert.Equal(1, worker.Value("hub_replies_total", ("from", "ai"), ("outcome", "answered")));
        Assert.Equal(1, worker.Value("hub_replies_total"));
        Assert.Equal(1, worker.Value("hub_llm_request_duration_seconds_count", ("provider", "openai"), ("model", "fake-model")));
        Assert.Equal(FakeLlm.PromptTokens, worker.Value("hub_llm_tokens_total", ("direction", "prompt")));

        Assert.Equal(1, dispatcher.Value("hub_webhook_attempts_total", ("outcome", "failed")));
        Assert.Equal(1, dispatcher.Value("hub_webhook_attempts_total", ("outcome", "succeeded")));
        Assert.Equal(2, dispatcher.Value("hub_webhook_attempts_total"));
        Assert.Equal(1, dispatcher.Value("hub_webhook_delivery_lag_seconds_count"));
        // The lag runs from the event's recording to the retry's success: at least the retry's wait (1 s − 20 % jitter).
        Assert.InRange(dispatcher.Value("hub_webhook_delivery_lag_seconds_sum")!.Value, 0.8, TelemetryClusterFixture.Patience.TotalSeconds);

        // No bot, conversation or message id is a label anywhere (low-cardinality labels only).
        foreach (var sample in new[] { api, worker, dispatcher }.SelectMany(m => m.Samples).Where(s => s.Name.StartsWith("hub_")))
            Assert.DoesNotContain(sample.Labels.Values, v => v.StartsWith("bot_") || v.StartsWith("conv_") || v.StartsWith("msg_") || v.Contains(run.MessageId));
    }

    [Fact]
    public async Task Metrics_and_logs_are_exported_over_otlp_and_the_logs_of_the_message_carry_its_trace_id()
    {
        var run = await fixture.Run;

        var metrics = await Poll.UntilAsync(Otlp.Metrics,
            m => m.Any(x => x is { Service: "hub-api", Name: "hub.messages.accepted" })
                 && m.Any(x => x is { Service: "hub-worker", Name: "hub.replies" })
                 && m.Any(x => x is { Service: "hub-dispatcher", Name: "hub.webhook.attempts" }),
            m => $"{Otlp.Bodies("metrics")} metrics bodies; metrics so far: "
                 + string.Join(", ", m.Select(x => $"{x.Service}/{x.Name}").Distinct().Order()));
        Assert.All(metrics.Where(m => m.Name.StartsWith("hub.")), m => Assert.Equal("Hub", m.Scope));

        var logs = await Poll.UntilAsync(Otlp.Logs,
            l => l.Any(x => x.TraceId == run.TraceId),
            l => $"{Otlp.Bodies("logs")} logs bodies, {l.Count} records, none with trace id {run.TraceId}:\n"
                 + string.Join("\n", l.TakeLast(20).Select(x => $"{x.Service} {x.Scope} [{x.TraceId}] {x.Body}")));
        var traced = logs.Where(l => l.TraceId == run.TraceId).ToList();
        output.WriteLine(string.Join("\n", traced.Select(x => $"{x.Service} {x.Scope}: {x.Body}")));
        // The dispatcher logs the failed try (and what it decided), within the try's span.
        Assert.Contains(traced, l => l.Service == "hub-dispatcher" && l.Body.Contains("try"));
    }

    private static bool Has(IEnumerable<OtlpSpan> spans, string service, Func<OtlpSpan, bool> also) =>
        spans.Any(s => s.Service == service && also(s));

    private static string Describe(IEnumerable<OtlpSpan> spans) =>
        string.Join("\n", spans.Select(s => $"  {s.Service,-15} {s.Scope,-22} {s.Name,-40} {s.SpanId} ← {s.ParentSpanId}"));

    private async Task<PrometheusText> ScrapeUntilAsync(HubProcess process, Func<PrometheusText, bool> done)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = await Poll.UntilAsync(async () =>
            {
                using var response = await http.GetAsync(new Uri(process.BaseAddress, "metrics"));
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /metrics on {process}: {(int)response.StatusCode} {text}");
                return PrometheusText.Parse(text);
            },
            done,
            m => $"{process}'s /metrics:\n{string.Join("\n", m.Samples.Where(s => s.Name.StartsWith("hub_")))}\n{Cluster.LogTails()}");
        output.WriteLine($"--- {process} ---\n{string.Join("\n", metrics.Samples.Where(s => s.Name.StartsWith("hub_") && !s.Name.EndsWith("_bucket")))}");
        return metrics;
    }
}

/// <summary>
/// With telemetry off (no OTEL_* settings, no HUB_METRICS) nothing is exported or served, yet the caller's trace
/// still reaches every webhook try across the processes: the propagation-only listener keeps it going.
/// </summary>
public sealed class TelemetryOffAcrossProcessesTests(TelemetryOffClusterFixture fixture)
    : IClassFixture<TelemetryOffClusterFixture>
{
    [Fact]
    public async Task Both_webhook_tries_carry_the_callers_trace_id_with_telemetry_off()
    {
        var run = await fixture.Run;

        Assert.Equal([500, 200], run.Posts.Select(p => p.AnsweredWith).ToArray());
        Assert.All(run.Posts, post => Assert.Equal(run.TraceId, WebhookRun.Parse(post.TraceParent).TraceId));
    }

    [Fact]
    public async Task No_process_serves_metrics_with_telemetry_off()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var process in fixture.Cluster.Processes)
        {
            using var response = await http.GetAsync(new Uri(process.BaseAddress, "metrics"));
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{process}: GET /metrics answered {(int)response.StatusCode}");
        }
    }
}
