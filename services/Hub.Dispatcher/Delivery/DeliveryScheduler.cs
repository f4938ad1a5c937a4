using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// The dispatcher's loop. Retries are stored as a due time, and every event is a stored delivery, so this
/// one loop serves both the fast path (woken by <see cref="DueSignal"/> when an event is committed) and the
/// durable path (a poll finds what a restart, a lost bus message or a re-enabled endpoint left due). Each
/// turn claims, in one transaction, as many due deliveries as there are free slots: at most
/// <see cref="DispatcherOptions.Concurrency"/> tries in flight in this process, and at most
/// <see cref="DispatcherOptions.EndpointConcurrency"/> to one endpoint, so a slow endpoint's backlog stays
/// in the store instead of holding slots. Nothing is scheduled in memory only: a kill -9 loses no try.
/// </summary>
public sealed class DeliveryScheduler(
    DeliveryStore store,
    DeliveryProcessor processor,
    AttemptRecorder recorder,
    DueSignal signal,
    IOptions<DispatcherOptions> options,
    ILogger<DeliveryScheduler> logger) : BackgroundService
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(45);
    private readonly int _slots = Math.Max(1, options.Value.Concurrency);
    private readonly int _endpointSlots = Math.Max(1, options.Value.EndpointConcurrency);
    private readonly ConcurrentDictionary<string, int> _perEndpoint = new();
    private int _inFlight;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var giveUp = new CancellationTokenSource();
        var recording = recorder.RunAsync(giveUp.Token);
        var interval = TimeSpan.FromMilliseconds(Math.Max(10, options.Value.PollMilliseconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var free = _slots - Volatile.Read(ref _inFlight);
                // Under load, tries finish one by one; a turn per finished try would claim one delivery per
                // transaction. A millisecond's wait lets them gather into one claim of many.
                if (free > 0 && free < _slots / 4) await Task.Delay(1, stoppingToken);
                free = _slots - Volatile.Read(ref _inFlight);
                var claimed = free > 0
                    ? await store.ClaimDueAsync(free, Room, FullEndpoints(), processor.ClaimFor, stoppingToken)
                    : [];
                foreach (var work in claimed) Start(work);
                // Every slot taken: more may be due; the next finished try wakes the loop. Otherwise wait for a new
                // event, a finished try or the next poll.
                await signal.WaitAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                logger.LogWarning(e, "Webhook scheduler turn failed; trying again");
                await Task.Delay(interval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        // Let the tries in flight finish (each is bounded by its timeout) and store them before stopping.
        giveUp.CancelAfter(DrainTimeout);
        while (Volatile.Read(ref _inFlight) > 0 && !giveUp.IsCancellationRequested)
            await Task.Delay(20, CancellationToken.None);
        recorder.Complete();
        await recording;
    }

    private int Room(string botId) => _endpointSlots - _perEndpoint.GetValueOrDefault(botId);

    private List<string> FullEndpoints() => _perEndpoint.Where(e => e.Value >= _endpointSlots).Select(e => e.Key).ToList();

    private void Start(DeliveryWork work)
    {
        Interlocked.Increment(ref _inFlight);
        _perEndpoint.AddOrUpdate(work.Bot.Id, 1, (_, n) => n + 1);
        // Runs on this thread until its POST goes out (signing and building the request take microseconds), then
        // continues wherever the response lands.
        _ = TryAsync(work);
    }

    private async Task TryAsync(DeliveryWork work)
    {
        try
        {
            recorder.Post(await processor.TryAsync(work));
        }
        catch (Exception e)
        {
            // Nothing stored: the claim runs out and the delivery is found again.
            logger.LogWarning(e, "Webhook {DeliveryId} try failed to complete", work.Delivery.Id);
        }
        finally
        {
            _perEndpoint.AddOrUpdate(work.Bot.Id, 0, (_, n) => n - 1);
            Interlocked.Decrement(ref _inFlight);
            signal.Notify();
        }
    }
}
