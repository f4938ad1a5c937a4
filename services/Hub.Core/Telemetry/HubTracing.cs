using System.Diagnostics;

namespace Hub.Core.Telemetry;

/// <summary>
/// Hub's activity sources, and the W3C trace context a stored event keeps so that work done later (a
/// webhook retry hours after the request) still joins the request's trace.
/// </summary>
public static class HubTracing
{
    /// <summary>Every source below: OpenTelemetry subscribes to this pattern.</summary>
    public const string SourcePattern = "Hub.*";

    /// <summary>One span per webhook try, parented on the trace stored with the delivery (only when OpenTelemetry listens).</summary>
    public static readonly ActivitySource Webhooks = new(WebhooksSourceName);

    public const string WebhooksSourceName = "Hub.Webhooks";

    /// <summary>One span per reply the AI worker produces, parented on the trace stored with the user message.</summary>
    public static readonly ActivitySource Replies = new(RepliesSourceName);

    public const string RepliesSourceName = "Hub.Replies";

    /// <summary>One span per LLM call (OpenTelemetry's gen_ai conventions).</summary>
    public static readonly ActivitySource Llm = new("Hub.Llm");

    /// <summary>One span per store transaction (SQLite has no instrumentation of its own; SQL Server's commands come from SqlClient's).</summary>
    public static readonly ActivitySource Store = new("Hub.Store");

    /// <summary>The current trace context as a <c>traceparent</c> header value, or null outside any trace.</summary>
    public static string? CurrentTraceParent() =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null;

    /// <summary>The <c>tracestate</c> to keep beside <see cref="CurrentTraceParent"/>, if the trace carries one.</summary>
    public static string? CurrentTraceState() => Activity.Current?.TraceStateString is { Length: > 0 and <= 512 } state ? state : null;

    /// <summary>
    /// The span the AI worker answers a message in: in the trace of the request that accepted it (the message's
    /// stored <c>traceparent</c>). With OpenTelemetry on, MassTransit's consume span is already in that trace and
    /// this nests in it; with telemetry off there is no consume span, and the stored context alone carries the
    /// trace, so the bus needs no propagation of its own. A re-driven message is consumed in a trace of the
    /// sweeper's: the reply still joins the request's trace, linked to the bus's.
    /// </summary>
    public static Activity? StartReply(string? storedTraceParent)
    {
        var stored = ParentFrom(storedTraceParent, null);
        var current = Activity.Current;
        if (current is not null && (stored == default || current.TraceId == stored.TraceId))
            return Replies.StartActivity("reply", ActivityKind.Internal);
        ActivityLink[]? links = current is null ? null : [new ActivityLink(current.Context)];
        return Replies.StartActivity("reply", ActivityKind.Internal, stored, links: links);
    }

    /// <summary>A stored <c>traceparent</c> (and <c>tracestate</c>) as a remote parent, or default when there is none or it is malformed.</summary>
    public static ActivityContext ParentFrom(string? traceParent, string? traceState) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent) ? parent : default;
}
