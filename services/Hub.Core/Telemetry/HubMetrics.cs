using System.Diagnostics.Metrics;

namespace Hub.Core.Telemetry;

/// <summary>
/// Hub's own instruments, on the meter <c>Hub</c> (API.md, Observability). Labels are low-cardinality only:
/// a mode, an outcome, a provider and model the operator configured; never a bot, conversation or message ID.
/// Made through <see cref="IMeterFactory"/>, so each host (and each test host) has its own meter. With no
/// listener (neither <c>HUB_METRICS</c> nor OTLP) every call here returns at once.
/// </summary>
public sealed class HubMetrics
{
    public const string MeterName = "Hub";

    private static readonly double[] LlmSeconds = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120];
    private static readonly double[] LagSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400];

    private readonly Counter<long> _accepted;
    private readonly Counter<long> _replies;
    private readonly Histogram<double> _llmDuration;
    private readonly Counter<long> _llmTokens;
    private readonly Counter<long> _webhookAttempts;
    private readonly Histogram<double> _deliveryLag;
    private readonly UpDownCounter<long> _sseStreams;

    public HubMetrics(IMeterFactory meters)
    {
        Meter = meters.Create(MeterName);
        _accepted = Meter.CreateCounter<long>("hub.messages.accepted", description: "User messages accepted, by response mode.");
        _replies = Meter.CreateCounter<long>("hub.replies",
            description: "Turns that ended: answered by the AI or an agent, failed, or handed off to people.");
        _llmDuration = Meter.CreateHistogram("hub.llm.request.duration", "s", "One LLM call, from request to its last chunk.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LlmSeconds });
        _llmTokens = Meter.CreateCounter<long>("hub.llm.tokens", description: "Tokens the LLM counted, by direction (prompt, completion).");
        _webhookAttempts = Meter.CreateCounter<long>("hub.webhook.attempts", description: "Webhook tries, by outcome (succeeded, failed, timeout).");
        _deliveryLag = Meter.CreateHistogram("hub.webhook.delivery_lag", "s", "From an event's recording to its delivery's successful try.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagSeconds });
        _sseStreams = Meter.CreateUpDownCounter<long>("hub.sse.streams_open", description: "Streaming replies being written right now.");
    }

    /// <summary>For a role's observable instruments (the dispatcher's pending deliveries).</summary>
    public Meter Meter { get; }

    public void MessageAccepted(string mode) => _accepted.Add(1, new KeyValuePair<string, object?>("mode", mode));

    /// <param name="from"><c>ai</c> or <c>human</c>.</param>
    /// <param name="outcome"><c>answered</c>, <c>failed</c> or <c>handed_off</c>.</param>
    public void Reply(string from, string outcome) =>
        _replies.Add(1, new KeyValuePair<string, object?>("from", from), new KeyValuePair<string, object?>("outcome", outcome));

    public void LlmRequest(string provider, string model, TimeSpan duration) =>
        _llmDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("provider", provider), new KeyValuePair<string, object?>("model", model));

    public void LlmTokens(long prompt, long completion)
    {
        if (!_llmTokens.Enabled) return;
        _llmTokens.Add(prompt, new KeyValuePair<string, object?>("direction", "prompt"));
        _llmTokens.Add(completion, new KeyValuePair<string, object?>("direction", "completion"));
    }

    /// <param name="outcome"><c>succeeded</c>, <c>failed</c> or <c>timeout</c>.</param>
    public void WebhookAttempt(string outcome) => _webhookAttempts.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void WebhookDelivered(TimeSpan lag) => _deliveryLag.Record(Math.Max(0, lag.TotalSeconds));

    public void SseStreamOpened() => _sseStreams.Add(1);

    public void SseStreamClosed() => _sseStreams.Add(-1);
}
