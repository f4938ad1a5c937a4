using System.Diagnostics;

namespace Hub.Core.Telemetry;

/// <summary>
/// Keeps a request's trace going across the bus and into every webhook try even when nothing is exported.
/// MassTransit and <see cref="HubTracing.Webhooks"/> only make an activity, and so only carry a
/// <c>traceparent</c>, when someone listens; this listener asks for the propagation data alone (no
/// attributes, nothing recorded), so a caller's <c>traceparent</c> reaches the webhook POST it causes with
/// telemetry off. When OpenTelemetry also listens, its sampler's answer wins where it asks for more.
/// One per process: a listener is process-wide in .NET, as is the trace context it keeps.
/// </summary>
public static class TracePropagation
{
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
                ShouldListenTo = source => source.Name is MassTransit.Logging.DiagnosticHeaders.DefaultListenerName
                    or HubTracing.WebhooksSourceName or HubTracing.RepliesSourceName,
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            };
            ActivitySource.AddActivityListener(_listener);
        }
    }
}
