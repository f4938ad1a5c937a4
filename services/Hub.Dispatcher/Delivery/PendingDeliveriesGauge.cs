using Hub.Core.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// <c>hub.deliveries.pending</c>: deliveries in the store not yet delivered, failed or cancelled (due now or
/// waiting for a retry). Every dispatcher reports the same store-wide count (take the max across processes).
/// Counted when a reader asks (a scrape, an OTLP export), at most once a second, so a Hub nobody scrapes
/// never runs the query; a scrape waits up to half a second for a fresh count, else gets the last one.
/// </summary>
public sealed class PendingDeliveriesGauge(HubMetrics metrics, DeliveryStore store, TimeProvider clock, ILogger<PendingDeliveriesGauge> logger)
    : IHostedService
{
    private static readonly TimeSpan FreshFor = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan WaitAtMost = TimeSpan.FromMilliseconds(500);
    private readonly Lock _gate = new();
    private Task<long>? _counting;
    private long _value;
    private DateTimeOffset _countedAt = DateTimeOffset.MinValue;

    public Task StartAsync(CancellationToken ct)
    {
        metrics.Meter.CreateObservableGauge("hub.deliveries.pending", Observe,
            description: "Webhook deliveries not yet delivered, failed or cancelled (store-wide).");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    private long Observe()
    {
        Task<long> counting;
        lock (_gate)
        {
            if (clock.GetUtcNow() - _countedAt < FreshFor) return _value;
            if (_counting is not { IsCompleted: false }) _counting = CountAsync();
            counting = _counting;
        }
        // Observable callbacks are synchronous; the count is one indexed query.
        if (counting.Wait(WaitAtMost)) return counting.Result;
        lock (_gate) return _value;
    }

    private async Task<long> CountAsync()
    {
        try
        {
            var value = await store.CountPendingAsync(CancellationToken.None);
            lock (_gate)
            {
                _value = value;
                _countedAt = clock.GetUtcNow();
            }
            return value;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogDebug(e, "Could not count pending deliveries; the gauge keeps its last value");
            lock (_gate) return _value;
        }
    }
}
