using Dapper;
using Hub.Contracts;
using Hub.Core.Data;
using Hub.Core.Hosting;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.AiWorker.Replies;

/// <summary>
/// Accepted means answered: every user message is stored with <c>reply_state = pending</c> and a
/// <c>redrive_at</c> time before its <see cref="ProduceReply"/> is published. This sweeper publishes
/// it again for messages still unanswered after that time (a lost publish, a broker outage, a worker
/// killed mid-reply). With the in-memory bus nothing survives a restart, so at start-up it re-drives
/// every unanswered message at once.
/// </summary>
public sealed class PendingReplyRedriver(
    HubDb db,
    IBus bus,
    TimeProvider clock,
    IOptions<AiWorkerOptions> options,
    IOptions<HubOptions> hub,
    ILogger<PendingReplyRedriver> logger) : BackgroundService
{
    private sealed record Due(string Id, string ConversationId, string BotId, long RedriveAt);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await WaitForBusAsync(stoppingToken);
        var everything = !hub.Value.UsesRabbitMq;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.RedriveSweepSeconds), clock);
        do
        {
            try
            {
                // "Everything" only once: a second pass would find the messages it just published again.
                var published = await SweepAsync(everything, stoppingToken);
                everything = false;
                while (published > 0 && !stoppingToken.IsCancellationRequested) published = await SweepAsync(false, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Re-drive sweep failed; trying again next tick");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>
    /// ExecuteAsync starts alongside the bus (.NET 10 runs it on the thread pool at once), and a message
    /// published before the bus has started its receive endpoints is dropped: the start-up re-drive would
    /// then wait a whole re-drive interval. So the first sweep waits for the bus (bounded, in case it
    /// never reports healthy; the sweeps after it retry anyway).
    /// </summary>
    private async Task WaitForBusAsync(CancellationToken ct)
    {
        if (bus is not IBusControl control) return; // the bus MassTransit registers is one
        var giveUp = clock.GetUtcNow().AddSeconds(30);
        while (control.CheckHealth().Status != BusHealthStatus.Healthy && clock.GetUtcNow() < giveUp)
            await Task.Delay(TimeSpan.FromMilliseconds(50), clock, ct);
    }

    /// <summary>Publishes one batch of due messages; returns how many.</summary>
    public async Task<int> SweepAsync(bool everything, CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var next = now + options.Value.RedriveAfterSeconds * 1000L;
        if (everything)
        {
            // Nothing held a message across the restart: every unanswered one is due now, and one a dead
            // worker had taken is free again. The batches below then take them all, 200 at a time.
            await db.ExecuteAsync(
                """
                UPDATE messages SET redrive_at = @now, reply_state = 'pending'
                WHERE reply_state IN ('pending', 'working') AND redrive_at > @now
                """, new { now }, ct);
        }
        await using var c = await db.OpenAsync(ct);
        var due = (await c.QueryAsync<Due>(new CommandDefinition(
            $"""
            SELECT id, conversation_id, bot_id, redrive_at FROM messages
            WHERE reply_state IN ('pending', 'working') AND redrive_at <= @cutoff
            ORDER BY redrive_at {db.Dialect.LimitClause}
            """,
            new { cutoff = now, limit = 200 }, cancellationToken: ct))).ToList();

        var published = 0;
        foreach (var message in due)
        {
            // The claim is this one UPDATE, compare-and-set on redrive_at: its WHERE is checked under the row's
            // update lock (SQL Server takes it for the statement's own target, READ_COMMITTED_SNAPSHOT or not),
            // so the unlocked read above needs no lock hint.
            // Moving redrive_at first means two sweepers never publish the same message for one tick. A
            // 'working' message is due only because its worker's lease ran out (or, at start-up with the
            // in-memory bus, its worker died with the last process): it goes back to 'pending' so that the
            // next worker may claim it; the new redrive_at would otherwise read as a live lease.
            var taken = await db.ExecuteAsync(
                """
                UPDATE messages SET redrive_at = @next,
                    reply_state = CASE WHEN reply_state = 'working' THEN 'pending' ELSE reply_state END
                WHERE id = @Id AND redrive_at = @RedriveAt
                """,
                new { next, message.Id, message.RedriveAt }, ct);
            if (taken == 0) continue;
            await bus.Publish(new ProduceReply(message.Id, message.ConversationId, message.BotId, StreamDeltas: false), ct);
            published++;
        }
        if (published > 0) logger.LogInformation("Re-drove {Count} unanswered messages", published);
        return published;
    }
}
