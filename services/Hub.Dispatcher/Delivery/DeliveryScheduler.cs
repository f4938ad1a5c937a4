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
/// Each turn claims, in one transaction, as many due deliveries as there is room for, into one lane per
/// endpoint. A lane sends at most <see cref="DispatcherOptions.EndpointConcurrency"/> tries at once, and
/// the process at most <see cref="DispatcherOptions.Concurrency"/>. A lane whose endpoint answers quickly
/// also holds a few claimed deliveries ready (<see cref="Prefetch"/> times its concurrency), so that a
/// finished try starts the next one at once rather than waiting for a claim: when the store is busy
/// (the API taking messages in, the worker storing replies), a claim waits its turn behind their writes.
/// A slow endpoint gets no more than it can send, so its backlog stays in the store, unclaimed. A
/// delivery that waited in a lane too long to still finish within its claim is given back, not sent.
/// Nothing is scheduled in memory only: a kill -9 loses no try.
/// </remarks>
public sealed class DeliveryScheduler(
    DeliveryStore store,
    DeliveryProcessor processor,
    AttemptRecorder recorder,
    DueSignal signal,
    IOptions<DispatcherOptions> options,
    TimeProvider clock,
    ILogger<DeliveryScheduler> logger) : BackgroundService
{
    /// <summary>Claimed deliveries a fast lane may hold, in multiples of its concurrency (sending ones included).</summary>
    public const int Prefetch = 16;
    /// <summary>Deliveries claimed in one transaction at most (one parameter each in the claiming UPDATE).</summary>
    private const int MaxClaim = 256;
    /// <summary>An endpoint is fast when its last try answered within this; only fast lanes hold extra deliveries.</summary>
    private static readonly TimeSpan FastEnough = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(45);

    private readonly int _slots = Math.Max(1, options.Value.Concurrency);
    private readonly int _endpointSlots = Math.Max(1, options.Value.EndpointConcurrency);
    /// <summary>How long a claimed delivery may wait in a lane: a try started later might outlive its claim.</summary>
    private readonly TimeSpan _maxWait = processor.ClaimFor - TimeSpan.FromSeconds(options.Value.TimeoutSeconds * 2) - TimeSpan.FromSeconds(1);
    private readonly Dictionary<string, Lane> _lanes = new();
    private readonly Lock _lock = new();
    private int _sending;
    private int _held;

    private sealed class Lane
    {
        public readonly Queue<(DeliveryWork Work, long ClaimedAt)> Waiting = new();
        public int Sending;
        /// <summary>Until an endpoint has answered once quickly, its lane holds no more than it sends.</summary>
        public bool Fast;
        public int Held => Sending + Waiting.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var giveUp = new CancellationTokenSource();
        var recording = recorder.RunAsync(giveUp.Token);
        var interval = TimeSpan.FromMilliseconds(Math.Max(10, options.Value.PollMilliseconds));
        var capacity = _slots * Prefetch;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Under load tries finish one by one; a turn per finished try would claim one delivery per
                // transaction. A millisecond's wait lets them gather into one claim of many.
                if (capacity - Volatile.Read(ref _held) is > 0 and var few && few < capacity / 4) await Task.Delay(1, stoppingToken);
                var free = Math.Min(MaxClaim, capacity - Volatile.Read(ref _held));
                if (free > 0)
                {
                    List<string> full;
                    lock (_lock) full = _lanes.Where(l => Room(l.Value) <= 0).Select(l => l.Key).ToList();
                    var claimed = await store.ClaimDueAsync(free, RoomFor, full, processor.ClaimFor, stoppingToken);
                    if (claimed.Count > 0) Start(Enqueue(claimed));
                }
                // Wait for a new event, a finished try or the next poll.
                await signal.WaitAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                logger.LogWarning(e, "Webhook scheduler turn failed; trying again");
                await Task.Delay(interval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        // Give back what waits unsent, let the tries in flight finish (each is bounded by its timeout) and store them.
        List<string> unsent;
        lock (_lock)
        {
            unsent = _lanes.Values.SelectMany(l => l.Waiting.Select(w => w.Work.Delivery.Id)).ToList();
            foreach (var lane in _lanes.Values) lane.Waiting.Clear();
            _held -= unsent.Count;
        }
        await ReleaseAsync(unsent);
        giveUp.CancelAfter(DrainTimeout);
        while (Volatile.Read(ref _sending) > 0 && !giveUp.IsCancellationRequested)
            await Task.Delay(20, CancellationToken.None);
        recorder.Complete();
        await recording;
    }

    /// <summary>Deliveries the endpoint's lane may still take: up to its concurrency, or a few times that when it is fast.</summary>
    private int Room(Lane lane) => _endpointSlots * (lane.Fast ? Prefetch : 1) - lane.Held;

    private int RoomFor(string botId)
    {
        lock (_lock) return _lanes.TryGetValue(botId, out var lane) ? Room(lane) : _endpointSlots * Prefetch;
    }

    /// <summary>Puts claimed deliveries in their lanes; returns those that may start now.</summary>
    private List<DeliveryWork> Enqueue(IReadOnlyList<DeliveryWork> claimed)
    {
        var now = clock.GetTimestamp();
        var startable = new List<DeliveryWork>();
        lock (_lock)
        {
            foreach (var work in claimed)
            {
                if (!_lanes.TryGetValue(work.Bot.Id, out var lane)) _lanes[work.Bot.Id] = lane = new Lane();
                lane.Waiting.Enqueue((work, now));
                _held++;
            }
            TakeStartable(startable, null);
        }
        return startable;
    }

    /// <summary>
    /// Under the lock: moves waiting deliveries to sending while their lanes and the process have room, the
    /// finishing endpoint's lane first. Deliveries that waited too long are dropped into <see cref="_expired"/>.
    /// </summary>
    private void TakeStartable(List<DeliveryWork> startable, Lane? first)
    {
        var now = clock.GetTimestamp();
        IEnumerable<Lane> lanes = first is null ? _lanes.Values : _lanes.Values.Where(l => l != first).Prepend(first);
        foreach (var lane in lanes)
        {
            while (_sending < _slots && lane.Sending < _endpointSlots && lane.Waiting.TryDequeue(out var next))
            {
                if (clock.GetElapsedTime(next.ClaimedAt, now) > _maxWait)
                {
                    _held--;
                    _expired.Add(next.Work.Delivery.Id);
                    continue;
                }
                lane.Sending++;
                _sending++;
                startable.Add(next.Work);
            }
            if (_sending >= _slots) break;
        }
    }

    private readonly List<string> _expired = [];

    private void Start(List<DeliveryWork> startable)
    {
        // Each runs on this thread until its POST goes out (signing and building the request take microseconds),
        // then continues wherever the response lands.
        foreach (var work in startable) _ = TryAsync(work);
        List<string>? expired = null;
        lock (_lock)
        {
            if (_expired.Count > 0)
            {
                expired = [.. _expired];
                _expired.Clear();
            }
        }
        if (expired is not null) _ = ReleaseAsync(expired);
    }

    private async Task TryAsync(DeliveryWork work)
    {
        Attempt? attempt = null;
        try
        {
            attempt = await processor.TryAsync(work);
            recorder.Post(attempt);
        }
        catch (Exception e)
        {
            // Nothing stored: the claim runs out and the delivery is found again.
            logger.LogWarning(e, "Webhook {DeliveryId} try failed to complete", work.Delivery.Id);
        }
        finally
        {
            var next = new List<DeliveryWork>();
            lock (_lock)
            {
                var lane = _lanes[work.Bot.Id];
                lane.Sending--;
                lane.Fast = attempt is not null && TimeSpan.FromMilliseconds(attempt.Result.LatencyMs) <= FastEnough;
                _sending--;
                _held--;
                TakeStartable(next, lane);
            }
            Start(next);
            signal.Notify();
        }
    }

    private async Task ReleaseAsync(List<string> ids)
    {
        try
        {
            await store.ReleaseAsync(ids);
        }
        catch (Exception e)
        {
            // They are freed anyway when their claims run out.
            logger.LogWarning(e, "Could not give back {Count} claimed webhook deliveries", ids.Count);
        }
    }
}
