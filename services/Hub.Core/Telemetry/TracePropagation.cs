using System.Diagnostics;

namespace Hub.Core.Telemetry;

/// <summary>
/// Keeps a request's trace going into its reply even when nothing is exported. The trace crosses the bus and
/// the hours before a webhook retry through the store: the <c>traceparent</c> kept with a waiting message, and
/// with each delivery (the dispatcher sends that one as it is when no span of its own is wanted). The AI worker
/// answers inside a span of <see cref="HubTracing.Replies"/> parented on the message's, so that the deliveries
/// the reply records, and the LLM call, carry the caller's trace; but a source only makes an activity when
/// someone listens. This listener asks that source for the propagation data alone (no attributes, nothing
/// recorded): one activity per reply. MassTransit is not listened to here: its send, receive and consume
/// activities on every bus message cost about 5 % of a webhook-mode message's CPU (bench webhook_e2e) for a
/// trace the store already carries. With OpenTelemetry on, its sampler decides for every source.
/// One per process: a listener is process-wide in .NET, as is the trace context it keeps.
/// </summary>
public static class TracePropagation
{
    /// <summary>
    /// ASP.NET Core's SignalR hub invocations: each is a trace of its own (linked to the connection's), so that an
    /// agent's reply, claim or close records its events in that trace rather than in the trace of the WebSocket's
    /// request, which lasts as long as the agent's session.
    /// </summary>
    private const string SignalRServer = "Microsoft.AspNetCore.SignalR.Server";

    private static readonly Lock Gate = new();
    private static ActivityListener? _listener;

    public static void EnsureListening()
    {
        lock (Gate)
        {
            if (_listener is not null) return;
            _listener = new ActivityListener
            {
                // By name, not by reference: HubTracing's sources may be created while this very listener is asked about them.
                ShouldListenTo = source => source.Name is HubTracing.RepliesSourceName or SignalRServer,
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            };
            ActivitySource.AddActivityListener(_listener);
        }
    }
}
