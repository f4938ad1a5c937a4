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
    public string Status { get; init; } = "";
    public int AttemptCount { get; init; }
    public long? NextAttemptAt { get; init; }
    public long? LockedUntil { get; init; }
}

public sealed record DeliveryWork(DeliveryRecord Delivery, BotRecord Bot);

/// <summary>The dispatcher's SQL: find due tries, lock one, record its attempt and what follows.</summary>
public sealed class DeliveryStore(HubDb db, TimeProvider clock)
{
    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Due deliveries of enabled endpoints that nobody holds, leaving out endpoints in <paramref name="skipBots"/>.</summary>
    public async Task<IReadOnlyList<(string Id, string BotId)>> DueAsync(int limit, IReadOnlyCollection<string> skipBots, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        return (await c.QueryAsync<(string Id, string BotId)>(new CommandDefinition(
            $"""
            SELECT d.id, d.bot_id FROM deliveries d JOIN bots b ON b.id = d.bot_id
            WHERE d.status = 'pending' AND d.next_attempt_at <= @now
              AND (d.locked_until IS NULL OR d.locked_until <= @now) AND b.webhook_status = 'enabled'
              {(skipBots.Count > 0 ? "AND d.bot_id NOT IN @skipBots" : "")}
            ORDER BY d.next_attempt_at {db.Dialect.LimitClause}
            """, new { now = Now, limit, skipBots }, cancellationToken: ct))).ToList();
    }

    public async Task<string?> BotOfAsync(string id, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        return await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT bot_id FROM deliveries WHERE id = @id AND status = 'pending'", new { id }, cancellationToken: ct));
    }

    /// <summary>Locks a due delivery for one try; null when it is not due, held elsewhere, done, or its endpoint is disabled.</summary>
    public Task<DeliveryWork?> ClaimAsync(string id, TimeSpan lockFor, CancellationToken ct) =>
        db.InTransactionAsync<DeliveryWork?>(async (c, tx) =>
        {
            var now = Now;
            var delivery = await c.QuerySingleOrDefaultAsync<DeliveryRecord>(
                $"SELECT * FROM {db.Dialect.LockedTable("deliveries")} WHERE id = @id", new { id }, tx);
            if (delivery is not { Status: "pending" } || delivery.NextAttemptAt > now || delivery.LockedUntil > now) return null;

            var bot = await c.QuerySingleOrDefaultAsync<BotRecord>("SELECT * FROM bots WHERE id = @BotId", new { delivery.BotId }, tx);
            if (bot is null || bot.WebhookUrl is null)
            {
                await c.ExecuteAsync(
                    "UPDATE deliveries SET status = 'failed', last_error = @error, updated_at = @now WHERE id = @id",
                    new { id, now, error = bot is null ? "the bot was deleted" : "the bot has no webhook URL" }, tx);
                return null;
            }
            if (bot.WebhookStatus != "enabled") return null;

            await c.ExecuteAsync("UPDATE deliveries SET locked_until = @until WHERE id = @id",
                new { id, until = now + (long)lockFor.TotalMilliseconds }, tx);
            return new DeliveryWork(delivery, bot);
        }, ct);

    /// <summary>The endpoint is busy: give the delivery back, due again shortly, with no attempt counted.</summary>
    public async Task ReleaseAsync(string id, TimeSpan after)
    {
        await db.ExecuteAsync("UPDATE deliveries SET locked_until = NULL, next_attempt_at = @at WHERE id = @id AND status = 'pending'",
            new { id, at = Now + (long)after.TotalMilliseconds });
    }

    /// <summary>Stores the attempt and its consequence in one transaction.</summary>
    public Task RecordAsync(DeliveryWork work, long startedAt, AttemptResult result, Decision decision) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var now = Now;
            var (delivery, bot) = work;
            var attempt = delivery.AttemptCount + 1;
            await c.ExecuteAsync(
                """
                INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, status_code, latency_ms, error, response_excerpt, outcome)
                VALUES (@id, @deliveryId, @attempt, @startedAt, @StatusCode, @LatencyMs, @Error, @ResponseExcerpt, @outcome)
                """,
                new
                {
                    id = Ids.New("att"), deliveryId = delivery.Id, attempt, startedAt, result.StatusCode, result.LatencyMs,
                    Error = Truncate(result.Error, 1000), result.ResponseExcerpt, outcome = result.Outcome.ToString().ToLowerInvariant(),
                }, tx);

            var (status, nextAt) = decision switch
            {
                Decision.Delivered => ("succeeded", (long?)null),
                Decision.RetryAt r => ("pending", r.DueAt),
                Decision.DisableEndpoint d => ("pending", d.DueAt),
                _ => ("failed", null),
            };
            await c.ExecuteAsync(
                """
                UPDATE deliveries SET status = @status, attempt_count = @attempt, next_attempt_at = @nextAt, locked_until = NULL,
                    last_status_code = @StatusCode, last_error = @Error, updated_at = @now
                WHERE id = @id
                """,
                new { id = delivery.Id, status, attempt, nextAt, result.StatusCode, Error = Truncate(result.Error, 1000), now }, tx);

            if (decision is Decision.Delivered)
                await c.ExecuteAsync("UPDATE bots SET webhook_failing_since = NULL WHERE id = @Id AND webhook_failing_since IS NOT NULL", new { bot.Id }, tx);
            else
                await c.ExecuteAsync("UPDATE bots SET webhook_failing_since = @startedAt WHERE id = @Id AND webhook_failing_since IS NULL",
                    new { bot.Id, startedAt }, tx);
            if (decision is Decision.DisableEndpoint disable)
                await c.ExecuteAsync(
                    "UPDATE bots SET webhook_status = 'disabled', webhook_disabled_reason = @Reason, updated_at = @now WHERE id = @Id",
                    new { bot.Id, disable.Reason, now }, tx);
            return 0;
        });

    private static string? Truncate(string? text, int length) => text is null || text.Length <= length ? text : text[..length];
}
