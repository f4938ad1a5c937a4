using System.Security.Claims;
using System.Text.Json;
using Dapper;
using Hub.Api.Auth;
using Hub.Api.Bots;
using Hub.Api.Errors;
using Hub.Api.Paging;
using Hub.Contracts;
using Hub.Core.Data;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.Api.Deliveries;

public sealed record AttemptView(int Attempt, DateTimeOffset Time, int? StatusCode, long LatencyMs, string? Error,
    string? ResponseBodyExcerpt, string Outcome);

public sealed record DeliveryView(
    string DeliveryId, string WebhookId, string BotId, string EventType, string Status, int AttemptCount,
    DateTimeOffset? NextAttemptAt, int? LastStatusCode, string? LastError, string? ConversationId, string? MessageId,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, JsonElement Payload)
{
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<AttemptView>? Attempts { get; init; }
}

public sealed record RecoverInput(DateTimeOffset? Since);
public sealed record RecoverResult(int Recovered);

/// <summary>Webhook deliveries with every attempt; manual retry and recovery (bot key: its own bot's).</summary>
public static class DeliveriesApi
{
    private sealed class Row
    {
        public long Position { get; init; }
        public string Id { get; init; } = "";
        public string BotId { get; init; } = "";
        public string EventType { get; init; } = "";
        public string? ConversationId { get; init; }
        public string? MessageId { get; init; }
        public string Payload { get; init; } = "";
        public string Status { get; init; } = "";
        public int AttemptCount { get; init; }
        public long? NextAttemptAt { get; init; }
        public int? LastStatusCode { get; init; }
        public string? LastError { get; init; }
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }

        public DeliveryView View() => new(Id, Id, BotId, EventType, Status, AttemptCount,
            NextAttemptAt is { } n && Status == "pending" ? DateTimeOffset.FromUnixTimeMilliseconds(n) : null,
            LastStatusCode, LastError, ConversationId, MessageId,
            DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt),
            JsonDocument.Parse(Payload).RootElement.Clone());
    }

    // Settable properties, not a positional record: Dapper matches a constructor only on exact column types,
    // and SQLite hands back every integer as Int64.
    private sealed class AttemptRow
    {
        public int Attempt { get; init; }
        public long StartedAt { get; init; }
        public int? StatusCode { get; init; }
        public long LatencyMs { get; init; }
        public string? Error { get; init; }
        public string? ResponseExcerpt { get; init; }
        public string Outcome { get; init; } = "";
    }

    public static RouteGroupBuilder MapDeliveriesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Webhooks").RequireAuthorization(AuthExtensions.ReaderPolicy);
        group.MapGet("/deliveries", List).WithName("ListDeliveries");
        group.MapGet("/deliveries/{id}", Get).WithName("GetDelivery").WithSummary("A delivery with every attempt.");
        group.MapPost("/deliveries/{id}/retry", Retry).WithName("RetryDelivery");
        group.MapPost("/bots/{id}/webhook/recover", Recover).WithName("RecoverWebhook")
            .WithSummary("Redeliver every failed delivery of the bot since a time.").Accepts<RecoverInput>("application/json");
        return group;
    }

    internal static async Task<Results<Ok<ListResult<DeliveryView>>, ValidationProblem, ProblemHttpResult>> List(
        ClaimsPrincipal user, HubDb db, string? status, string? bot_id, string? event_type, string? conversation_id,
        string? message_id, string? cursor, string? limit)
    {
        if (status is not (null or "pending" or "succeeded" or "failed"))
            return HubProblem.Validation("status", "status must be pending, succeeded or failed.");
        // A bot key or an agent asking for a bot it may not see is refused (not shown an empty list).
        if (bot_id is not null && !user.MaySee(bot_id))
            return HubProblem.Forbidden("These credentials may not read that bot's deliveries.");
        var take = Cursor.Limit(limit, fallback: 50, max: 200);
        var after = Cursor.Decode("dlv", cursor);
        var botId = user.BotId() ?? bot_id;
        // An agent limited to some bots sees only their deliveries (as in the inbox).
        var scope = user.AgentScope();
        var scopeFilter = scope is null ? "" : "AND bot_id IN @scope";

        // Commit order, as the conversations list (see there).
        await using var c = await db.OpenAsync();
        var rows = (await c.QueryAsync<Row>(
            $"""
            {db.Dialect.PositionBound}
            SELECT *, {db.Dialect.Position("deliveries")} FROM deliveries
            WHERE {db.Dialect.AfterPosition("deliveries", "@after")} AND (@botId IS NULL OR bot_id = @botId) AND (@status IS NULL OR status = @status)
              AND (@event_type IS NULL OR event_type = @event_type)
              AND (@conversation_id IS NULL OR conversation_id = @conversation_id)
              AND (@message_id IS NULL OR message_id = @message_id) {scopeFilter}
            ORDER BY {db.Dialect.PositionOrder("deliveries")} {db.Dialect.LimitClause}
            """, new { after, botId, status, event_type, conversation_id, message_id, scope, limit = take + 1 })).ToList();
        var hasMore = rows.Count > take;
        var page = rows.Take(take).ToList();
        return TypedResults.Ok(new ListResult<DeliveryView>(page.Select(r => r.View()).ToList(),
            hasMore ? Cursor.Encode("dlv", page[^1].Position) : null, hasMore));
    }

    internal static async Task<Results<Ok<DeliveryView>, ProblemHttpResult>> Get(string id, ClaimsPrincipal user, HubDb db)
    {
        await using var c = await db.OpenAsync();
        var row = await c.QuerySingleOrDefaultAsync<Row>("SELECT * FROM deliveries WHERE id = @id", new { id });
        if (row is null || !user.MaySee(row.BotId)) return HubProblem.NotFound("The delivery");
        var attempts = await c.QueryAsync<AttemptRow>(
            """
            SELECT attempt, started_at, status_code, latency_ms, error, response_excerpt, outcome
            FROM delivery_attempts WHERE delivery_id = @id ORDER BY attempt
            """, new { id });
        return TypedResults.Ok(row.View() with
        {
            Attempts = attempts.Select(a => new AttemptView(a.Attempt, DateTimeOffset.FromUnixTimeMilliseconds(a.StartedAt),
                a.StatusCode, a.LatencyMs, a.Error, a.ResponseExcerpt, a.Outcome)).ToList(),
        });
    }

    internal static async Task<Results<Accepted<DeliveryView>, ProblemHttpResult>> Retry(
        string id, ClaimsPrincipal user, HubDb db, IBus bus, TimeProvider clock)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var row = await db.InTransactionAsync(async (c, tx) =>
        {
            var found = await c.QuerySingleOrDefaultAsync<Row>(
                $"SELECT * FROM {db.Dialect.LockedTable("deliveries")} WHERE id = @id", new { id }, tx);
            if (found is null || !user.MaySee(found.BotId)) return null;
            await c.ExecuteAsync(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = @now, locked_until = NULL, updated_at = @now WHERE id = @id",
                new { id, now }, tx);
            return await c.QuerySingleAsync<Row>("SELECT * FROM deliveries WHERE id = @id", new { id }, tx);
        });
        if (row is null) return HubProblem.NotFound("The delivery");
        await Core.Webhooks.WebhookOutbox.NotifyAsync(bus, [id]);
        return TypedResults.Accepted($"/v1/deliveries/{id}", row.View());
    }

    internal static async Task<Results<Ok<RecoverResult>, ProblemHttpResult, ValidationProblem>> Recover(
        string id, HttpRequest request, ClaimsPrincipal user, HubDb db, IBus bus, TimeProvider clock)
    {
        var input = await JsonBody.ReadAsync<RecoverInput>(request, 16 * 1024);
        if (input.Since is null) return HubProblem.Validation("since", "since is required (an RFC 3339 time).");
        if (!user.MaySee(id) || await Core.Bots.BotReader.GetAsync(db, id) is null) return HubProblem.NotFound("The bot");

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var ids = await db.InTransactionAsync(async (c, tx) =>
        {
            var failed = (await c.QueryAsync<string>(
                "SELECT id FROM deliveries WHERE bot_id = @id AND status = 'failed' AND created_at >= @since",
                new { id, since = input.Since.Value.ToUnixTimeMilliseconds() }, tx)).ToList();
            await c.ExecuteAsync(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = @now, locked_until = NULL, updated_at = @now WHERE id = @deliveryId",
                failed.Select(deliveryId => new { deliveryId, now }), tx);
            return failed;
        });
        await Core.Webhooks.WebhookOutbox.NotifyAsync(bus, ids);
        return TypedResults.Ok(new RecoverResult(ids.Count));
    }
}
