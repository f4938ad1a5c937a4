using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// The durable path: retries are stored as a due time, and this loop finds due deliveries in the store
/// (after a restart, a lost command, a re-enabled endpoint), claims them and hands them to a fixed pool
/// of workers. Nothing is scheduled in memory only, so a kill -9 at any point loses no try.
/// </summary>
public sealed class DeliveryScheduler(
    DeliveryStore store,
    DeliveryProcessor processor,
    IOptions<DispatcherOptions> options,
    ILogger<DeliveryScheduler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var workers = Math.Max(1, options.Value.Concurrency);
        var queue = Channel.CreateBounded<DeliveryWork>(new BoundedChannelOptions(workers) { SingleWriter = true });
        var pool = Enumerable.Range(0, workers).Select(_ => Task.Run(() => WorkAsync(queue.Reader, stoppingToken), stoppingToken)).ToList();

        var interval = TimeSpan.FromMilliseconds(Math.Max(10, options.Value.PollMilliseconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var due = await store.DueAsync(workers * 2, processor.SaturatedEndpoints(), stoppingToken);
                var claimed = 0;
                foreach (var (id, botId) in due)
                {
                    // A slow endpoint's backlog stays in the store rather than churning through claims,
                    // and does not hide other endpoints' due tries from the query above.
                    if (processor.IsSaturated(botId)) continue;
                    if (await store.ClaimAsync(id, processor.ClaimFor, stoppingToken) is not { } work) continue;
                    await queue.Writer.WriteAsync(work, stoppingToken);
                    claimed++;
                }
                // A full batch all taken means more may be due right now; otherwise wait for the next tick.
                if (claimed < workers * 2) await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                logger.LogWarning(e, "Webhook scheduler tick failed; trying again");
                await Task.Delay(interval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        queue.Writer.TryComplete();
        await Task.WhenAll(pool).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task WorkAsync(ChannelReader<DeliveryWork> reader, CancellationToken ct)
    {
        await foreach (var work in reader.ReadAllAsync(ct))
        {
            try
            {
                await processor.ProcessAsync(work, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The claim runs out and the scheduler finds the delivery again.
                logger.LogWarning(e, "Webhook {DeliveryId} try failed to complete", work.Delivery.Id);
            }
        }
    }
}
