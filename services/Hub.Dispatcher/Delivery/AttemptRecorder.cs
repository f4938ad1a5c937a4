using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// Stores finished tries in batches: whatever has finished while the previous batch was being written
/// goes into the next transaction (group commit), so the store sees one write per batch however many
/// tries are in flight. A try stays claimed until its attempt is stored; if this process dies first, the
/// claim runs out and the delivery is tried again (at least once, as before).
/// </summary>
public sealed class AttemptRecorder(DeliveryStore store, ILogger<AttemptRecorder> logger)
{
    private const int MaxBatch = 512;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private readonly Channel<Attempt> _queue = Channel.CreateUnbounded<Attempt>(new UnboundedChannelOptions { SingleReader = true });

    public void Post(Attempt attempt) => _queue.Writer.TryWrite(attempt);

    /// <summary>No more tries will be posted: <see cref="RunAsync"/> stores what is queued and returns.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <param name="giveUp">Cancelled when the host will not wait any longer; unstored tries then run out their claims.</param>
    public async Task RunAsync(CancellationToken giveUp)
    {
        var batch = new List<Attempt>(MaxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(giveUp))
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var attempt)) batch.Add(attempt);
                while (true)
                {
                    try
                    {
                        await store.RecordAsync(batch);
                        break;
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        logger.LogWarning(e, "Could not store {Count} webhook attempts; trying again", batch.Count);
                        await Task.Delay(RetryDelay, giveUp);
                    }
                }
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (giveUp.IsCancellationRequested)
        {
            logger.LogWarning("Stopped before storing {Count} webhook attempts; they will be tried again when their claims run out",
                batch.Count + _queue.Reader.Count);
        }
    }
}
