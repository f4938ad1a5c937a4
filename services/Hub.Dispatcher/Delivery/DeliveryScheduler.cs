using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// The dispatcher's loop. Retries are stored as a due time, and every event is a stored delivery, so this
/// one loop serves both the fast path (woken by <see cref="DueSignal"/> when an event is committed) and the
/// durable path (a poll finds what a restart, a lost bus message or a re-enabled endpoint left due).
/// </summary>
/// <remarks>
/// Each turn claims, in one transaction, as many due deliveries as the <see cref="EndpointLanes"/> have
/// room for. A lane sends at most <see cref="DispatcherOptions.EndpointConcurrency"/> tries at once, and
/// the process at most <see cref="DispatcherOptions.Concurrency"/>. A lane whose endpoint answers quickly
/// also holds claimed deliveries ready (<see cref="Prefetch"/> times its concurrency), so that a finished
/// try starts the next one at once rather than waiting for a claim: when the store is busy (the API
/// taking messages in, the worker storing replies), a claim waits its turn behind their writes. A slow
/// endpoint's backlog stays in the store, unclaimed. Nothing is scheduled in memory only: a kill -9 loses
/// no try.
/// </remarks>
public sealed class DeliveryScheduler : BackgroundService
{
    /// <summary>Claimed deliveries a fast lane may hold, in multiples of its concurrency (those being sent included).</summary>
    public const int Prefetch = 16;
    /// <summary>Deliveries claimed in one transaction at most (one parameter each in the claiming UPDATE).</summary>
    private const int MaxClaim = 256;
    /// <summary>An endpoint is fast when its last try answered within this; only fast lanes hold extra deliveries.</summary>
    private static readonly TimeSpan FastEnough = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(45);

    private readonly DeliveryStore _store;
    private readonly DeliveryProcessor _processor;
    private readonly AttemptRecorder _recorder;
    private readonly DueSignal _signal;
    private readonly DispatcherOptions _options;
    private readonly ILogger<DeliveryScheduler> _logger;
    private readonly EndpointLanes _lanes;

    public DeliveryScheduler(DeliveryStore store, DeliveryProcessor processor, AttemptRecorder recorder, DueSignal signal,
        IOptions<DispatcherOptions> options, TimeProvider clock, ILogger<DeliveryScheduler> logger)
    {
        (_store, _processor, _recorder, _signal, _options, _logger) = (store, processor, recorder, signal, options.Value, logger);
        // A delivery may wait in its lane only as long as a try started then still ends within its claim.
        var maxWait = processor.ClaimFor - TimeSpan.FromSeconds(_options.TimeoutSeconds * 2) - TimeSpan.FromSeconds(1);
        _lanes = new EndpointLanes(Math.Max(1, _options.Concurrency), Math.Max(1, _options.EndpointConcurrency), Prefetch, maxWait, clock);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var giveUp = new CancellationTokenSource();
        var recording = _recorder.RunAsync(giveUp.Token);
        var interval = TimeSpan.FromMilliseconds(Math.Max(10, _options.PollMilliseconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Under load tries finish one by one; a turn per finished try would claim one delivery per
                // transaction. A millisecond's wait lets them gather into one claim of many.
                var free = _lanes.Capacity - _lanes.Held;
                if (free > 0 && free < _lanes.Capacity / 4) await Task.Delay(1, stoppingToken);
                free = Math.Min(MaxClaim, _lanes.Capacity - _lanes.Held);
                if (free > 0)
                {
                    var claimed = await _store.ClaimDueAsync(free, _lanes.RoomFor, _lanes.Full(), _processor.ClaimFor, stoppingToken);
                    if (claimed.Count > 0) Go(_lanes.Add(claimed));
                }
                // Wait for a new event, a finished try or the next poll.
                await _signal.WaitAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Webhook scheduler turn failed; trying again");
                await Task.Delay(interval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        // Give back what waits unsent, let the tries in flight finish (each is bounded by its timeout) and store them.
        await GiveBackAsync(_lanes.TakeAllWaiting());
        giveUp.CancelAfter(DrainTimeout);
        while (_lanes.Sending > 0 && !giveUp.IsCancellationRequested)
            await Task.Delay(20, CancellationToken.None);
        _recorder.Complete();
        await recording;
    }

    private void Go(EndpointLanes.Next next)
    {
        // Each try runs on this thread until its POST goes out (signing and building the request take
        // microseconds), then continues wherever the response lands.
        foreach (var work in next.Send) _ = TryAsync(work);
        if (next.GiveBack.Count > 0) _ = GiveBackAsync(next.GiveBack);
    }

    private async Task TryAsync(DeliveryWork work)
    {
        Attempt? attempt = null;
        try
        {
            attempt = await _processor.TryAsync(work);
            _recorder.Post(attempt);
        }
        catch (Exception e)
        {
            // Nothing stored: the claim runs out and the delivery is found again.
            _logger.LogWarning(e, "Webhook {DeliveryId} try failed to complete", work.Delivery.Id);
        }
        finally
        {
            var fast = attempt is not null && TimeSpan.FromMilliseconds(attempt.Result.LatencyMs) <= FastEnough;
            Go(_lanes.Finish(work, fast));
            _signal.Notify();
        }
    }

    private async Task GiveBackAsync(List<string> ids)
    {
        if (ids.Count == 0) return;
        try
        {
            await _store.ReleaseAsync(ids);
        }
        catch (Exception e)
        {
            // They are freed anyway when their claims run out.
            _logger.LogWarning(e, "Could not give back {Count} claimed webhook deliveries", ids.Count);
        }
    }
}
