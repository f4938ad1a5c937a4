using Dapper;
using Hub.Core.Bots;
using Hub.Core.Data;
using Hub.Core.Hosting;

namespace Hub.Dispatcher.Delivery;

public sealed class DeliveryRecord
{
    public string Id { get; init; } = "";
    public string BotId { get; init; } = "";
    public string EventType { get; init; } = "";
    public string Payload { get; init; } = "";
    public int AttemptCount { get; init; }
    public long CreatedAt { get; init; }
    /// <summary>The trace of the change that recorded the event (W3C <c>traceparent</c>, <c>tracestate</c>); null for events older than 0005.</summary>
    public string? TraceParent { get; init; }
    public string? TraceState { get; init; }
}

public sealed record DeliveryWork(DeliveryRecord Delivery, BotRecord Bot);

/// <summary>One finished try, waiting to be stored with what follows from it.</summary>
public sealed record Attempt(DeliveryWork Work, long StartedAt, AttemptResult Result, Decision Decision);

/// <summary>
/// The dispatcher's SQL, in batches: one write transaction claims every due delivery there is room for,
/// and one stores a batch of finished tries. A busy dispatcher thus writes a few times per batch of
/// deliveries instead of twice per delivery.
/// </summary>
public sealed class DeliveryStore(HubDb db, TimeProvider clock)
{
    private static readonly string[] ClaimedColumns = ["id", "bot_id", "event_type", "payload", "attempt_count", "created_at", "trace_parent", "trace_state"];

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Locks up to <paramref name="limit"/> due deliveries for one try each, oldest due first, taking at most
    /// <paramref name="room"/>(bot) from each endpoint. Endpoints in <paramref name="full"/> have no room and are
    /// not looked at. A delivery whose bot was deleted or has no webhook URL any more is failed on the way.
    /// </summary>
    public async Task<IReadOnlyList<DeliveryWork>> ClaimDueAsync(int limit, Func<string, int> room, IReadOnlyCollection<string> full,
        TimeSpan lockFor, CancellationToken ct)
    {
        var now = Now;
        // Read outside the write transaction (no locks held, no writer waits for it); twice the limit, as some
        // candidates may belong to endpoints that fill up within this batch.
        IEnumerable<(string Id, string BotId)> candidates;
        await using (var reader = await db.OpenAsync(ct))
            candidates = await reader.QueryAsync<(string Id, string BotId)>(new CommandDefinition(
                $"""
                SELECT d.id, d.bot_id FROM deliveries d LEFT JOIN bots b ON b.id = d.bot_id
                WHERE d.status = 'pending' AND d.next_attempt_at <= @now
                  AND (d.locked_until IS NULL OR d.locked_until <= @now)
                  AND (b.id IS NULL OR b.webhook_status = 'enabled')
                  {(full.Count > 0 ? "AND d.bot_id NOT IN @full" : "")}
                ORDER BY d.next_attempt_at {db.Dialect.LimitClause}
                """, new { now, full, limit = limit * 2 }, cancellationToken: ct));

        var picked = new List<string>(limit);
        var taken = new Dictionary<string, int>();
        foreach (var (id, botId) in candidates)
        {
            var used = taken.GetValueOrDefault(botId);
            if (used >= room(botId)) continue;
            taken[botId] = used + 1;
            picked.Add(id);
            if (picked.Count == limit) break;
        }
        if (picked.Count == 0) return [];
        return await ClaimAsync(picked, lockFor, ct);
    }

    /// <summary>Locks those of <paramref name="picked"/> that are still due and free; reads their bots.</summary>
    private Task<IReadOnlyList<DeliveryWork>> ClaimAsync(List<string> picked, TimeSpan lockFor, CancellationToken ct) =>
        db.InTransactionAsync<IReadOnlyList<DeliveryWork>>(async (c, tx) =>
        {
            var now = Now;
            // The WHERE is checked again here, row by row: another dispatcher may have taken some since the read.
            // The UPDATE locks each row it changes before it checks it, so no hint is needed on the read above.
            var claimed = (await c.QueryAsync<DeliveryRecord>(new CommandDefinition(
                db.Dialect.UpdateReturning("deliveries", "locked_until = @until",
                    "id IN @picked AND status = 'pending' AND next_attempt_at <= @now AND (locked_until IS NULL OR locked_until <= @now)",
                    ClaimedColumns),
                new { picked, now, until = now + (long)lockFor.TotalMilliseconds }, tx, cancellationToken: ct))).ToList();
            if (claimed.Count == 0) return [];

            // What a try needs of its bot: not its knowledge or instructions, which may be large.
            var bots = (await c.QueryAsync<BotRecord>(new CommandDefinition(
                """
                SELECT id, webhook_url, webhook_secret, webhook_previous_secret, webhook_previous_secret_expires_at,
                    webhook_status, webhook_failing_since
                FROM bots WHERE id IN @botIds
                """, new { botIds = claimed.Select(d => d.BotId).Distinct() }, tx,
                cancellationToken: ct))).ToDictionary(b => b.Id);
            var work = new List<DeliveryWork>(claimed.Count);
            var orphans = new List<object>();
            foreach (var delivery in claimed)
            {
                if (bots.TryGetValue(delivery.BotId, out var bot) && bot.WebhookUrl is not null)
                    work.Add(new DeliveryWork(delivery, bot));
                else
                    orphans.Add(new { delivery.Id, now, error = bot is null ? "the bot was deleted" : "the bot has no webhook URL" });
            }
            if (orphans.Count > 0)
                await c.ExecuteAsync(
                    "UPDATE deliveries SET status = 'failed', locked_until = NULL, last_error = @error, updated_at = @now WHERE id = @Id",
                    orphans, tx);
            return work;
        }, ct);

    /// <summary>Deliveries still to be delivered (due now or waiting for a retry), for the <c>hub.deliveries.pending</c> gauge.</summary>
    public async Task<long> CountPendingAsync(CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        return await c.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'", cancellationToken: ct));
    }

    /// <summary>Gives claimed deliveries back untried (the dispatcher is stopping, or held them too long to start them safely).</summary>
    public Task ReleaseAsync(IReadOnlyCollection<string> ids) =>
        ids.Count == 0 ? Task.CompletedTask : db.ExecuteAsync(
            "UPDATE deliveries SET locked_until = NULL WHERE id IN @ids AND status = 'pending'", new { ids });

    /// <summary>Stores a batch of finished tries and their consequences in one transaction.</summary>
    public Task RecordAsync(IReadOnlyList<Attempt> attempts) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var now = Now;
            // One prepared statement run per row. (A multi-row VALUES list is slower here: SQLite looks up each
            // named parameter by a linear search, so a statement with n rows binds in O(n²).)
            await c.ExecuteAsync(
                """
                INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, status_code, latency_ms, error, response_excerpt, outcome)
                VALUES (@Id, @DeliveryId, @Attempt, @StartedAt, @StatusCode, @LatencyMs, @Error, @ResponseExcerpt, @Outcome)
                """,
                attempts.Select(a => new
                {
                    Id = Ids.New("att"), DeliveryId = a.Work.Delivery.Id, Attempt = a.Work.Delivery.AttemptCount + 1, a.StartedAt,
                    a.Result.StatusCode, a.Result.LatencyMs, Error = Truncate(a.Result.Error, 1000), a.Result.ResponseExcerpt,
                    Outcome = a.Result.Outcome.ToString().ToLowerInvariant(),
                }), tx);

            // Successes, the usual case, in one UPDATE per status code and try number.
            foreach (var delivered in attempts.Where(a => a.Decision is Decision.Delivered)
                         .GroupBy(a => (a.Result.StatusCode, Attempt: a.Work.Delivery.AttemptCount + 1)))
            {
                foreach (var chunk in delivered.Chunk(DeliveriesPerUpdate))
                    await c.ExecuteAsync(
                        """
                        UPDATE deliveries SET status = 'succeeded', attempt_count = @Attempt, next_attempt_at = NULL, locked_until = NULL,
                            last_status_code = @StatusCode, last_error = NULL, updated_at = @now
                        WHERE id IN @ids
                        """,
                        new { delivered.Key.Attempt, delivered.Key.StatusCode, now, ids = chunk.Select(a => a.Work.Delivery.Id) }, tx);
            }

            await c.ExecuteAsync(
                """
                UPDATE deliveries SET status = @Status, attempt_count = @Attempt, next_attempt_at = @NextAt, locked_until = NULL,
                    last_status_code = @StatusCode, last_error = @Error, updated_at = @now
                WHERE id = @Id
                """,
                attempts.Where(a => a.Decision is not Decision.Delivered).Select(a =>
                {
                    var (status, nextAt) = a.Decision switch
                    {
                        Decision.RetryAt r => ("pending", (long?)r.DueAt),
                        Decision.DisableEndpoint d => ("pending", d.DueAt),
                        _ => ("failed", null),
                    };
                    return new
                    {
                        a.Work.Delivery.Id, Status = status, Attempt = a.Work.Delivery.AttemptCount + 1, NextAt = nextAt,
                        a.Result.StatusCode, Error = Truncate(a.Result.Error, 1000), now,
                    };
                }), tx);

            foreach (var endpoint in attempts.GroupBy(a => a.Work.Bot.Id))
            {
                // webhook_failing_since: cleared by a success, set by the first failure after it. Within the batch
                // the tries of one endpoint are taken in the order they started.
                var tries = endpoint.OrderBy(a => a.StartedAt).ToList();
                var lastSuccess = tries.FindLastIndex(a => a.Decision is Decision.Delivered);
                long? failingSince = lastSuccess == tries.Count - 1 ? null : tries[lastSuccess + 1].StartedAt;
                await c.ExecuteAsync(
                    lastSuccess < 0 ? "UPDATE bots SET webhook_failing_since = @failingSince WHERE id = @Key AND webhook_failing_since IS NULL"
                    : failingSince is null ? "UPDATE bots SET webhook_failing_since = NULL WHERE id = @Key AND webhook_failing_since IS NOT NULL"
                    : "UPDATE bots SET webhook_failing_since = @failingSince WHERE id = @Key",
                    new { endpoint.Key, failingSince }, tx);
                if (tries.Select(a => a.Decision).OfType<Decision.DisableEndpoint>().FirstOrDefault() is { } disable)
                    await c.ExecuteAsync(
                        "UPDATE bots SET webhook_status = 'disabled', webhook_disabled_reason = @Reason, updated_at = @now WHERE id = @Key",
                        new { endpoint.Key, disable.Reason, now }, tx);
            }
            return 0;
        });

    /// <summary>Deliveries per UPDATE … IN: well under SQL Server's 2,100 parameters per statement.</summary>
    private const int DeliveriesPerUpdate = 500;

    private static string? Truncate(string? text, int length) => text is null || text.Length <= length ? text : text[..length];
}
