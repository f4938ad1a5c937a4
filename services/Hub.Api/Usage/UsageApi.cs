using System.Globalization;
using System.Security.Claims;
using Dapper;
using Hub.Api.Auth;
using Hub.Api.Errors;
using Hub.Api.Paging;
using Hub.Core.Data;
using Hub.Core.Messages;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.Api.Usage;

public sealed record UsageDay(string Date, long Replies, TokenUsage Tokens, CreditUsage Credits);
public sealed record UsageReport(string? BotId, DateTimeOffset From, DateTimeOffset To, string GroupBy,
    long Replies, TokenUsage Tokens, CreditUsage Credits, IReadOnlyList<UsageDay> Data);

/// <summary>Tokens and credits of AI replies, in total and per UTC day (bot key: its own bot only).</summary>
public static class UsageApi
{
    private const long DayMs = 86_400_000;

    public static RouteHandlerBuilder MapUsageApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/usage", GetUsage).WithTags("Usage").WithName("GetUsage")
            .WithSummary("Token and credit totals, and per day. from/to are dates or RFC 3339 times (default: the last 30 days).")
            .RequireAuthorization(AuthExtensions.ReaderPolicy);

    // Properties, not a positional record: with no rows SQLite reports the aggregate columns as BLOB, and
    // Dapper's constructor matching then fails instead of returning nothing.
    private sealed class Row
    {
        public long Day { get; init; }
        public long Replies { get; init; }
        public long PromptTokens { get; init; }
        public long CompletionTokens { get; init; }
        public double InputCredits { get; init; }
        public double OutputCredits { get; init; }
    }

    internal static async Task<Results<Ok<UsageReport>, ProblemHttpResult, ValidationProblem>> GetUsage(
        ClaimsPrincipal user, HubDb db, TimeProvider clock, string? bot_id, string? from, string? to, string? group_by)
    {
        if (group_by is not (null or "day")) return HubProblem.Validation("group_by", "group_by must be 'day'.");
        // As every read path: a bot key reads its own bot, an agent the bots it is limited to, and without
        // bot_id an agent's totals cover only those bots.
        if (bot_id is not null && !user.MaySee(bot_id))
            return HubProblem.Forbidden("These credentials may not read that bot's usage.");
        var botId = user.BotId() ?? bot_id;
        var scope = botId is null ? user.AgentScope() : null;

        var today = clock.GetUtcNow().UtcDateTime.Date;
        var end = ParseBound("to", to, endOfDay: true) ?? new DateTimeOffset(today.AddDays(1), TimeSpan.Zero);
        var start = ParseBound("from", from, endOfDay: false) ?? Max(end.AddDays(-30), Earliest);
        if (start >= end) return HubProblem.Validation("from", "from must be before to.");

        await using var c = await db.OpenAsync();
        var rows = (await c.QueryAsync<Row>(
            // 64-bit sums: SQL Server sums INT as INT, which overflows past 2^31 tokens.
            $"""
            SELECT created_at / 86400000 AS day, {db.Dialect.CountRows} AS replies,
                   SUM(CAST(prompt_tokens AS BIGINT)) AS prompt_tokens, SUM(CAST(completion_tokens AS BIGINT)) AS completion_tokens,
                   SUM(input_credits) AS input_credits, SUM(output_credits) AS output_credits
            FROM messages
            WHERE sender = 'ai' AND created_at >= @start AND created_at < @end AND (@botId IS NULL OR bot_id = @botId)
              {(scope is null ? "" : "AND bot_id IN @scope")}
            GROUP BY created_at / 86400000
            ORDER BY day
            """,
            new { start = start.ToUnixTimeMilliseconds(), end = end.ToUnixTimeMilliseconds(), botId, scope })).ToList();

        var days = rows.Select(r => new UsageDay(
            DateTimeOffset.FromUnixTimeMilliseconds(r.Day * DayMs).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            r.Replies,
            new TokenUsage(r.PromptTokens, r.CompletionTokens, r.PromptTokens + r.CompletionTokens),
            CreditUsage.Of(r.InputCredits, r.OutputCredits))).ToList();
        return TypedResults.Ok(new UsageReport(botId, start, end, "day",
            rows.Sum(r => r.Replies),
            new TokenUsage(rows.Sum(r => r.PromptTokens), rows.Sum(r => r.CompletionTokens), rows.Sum(r => r.PromptTokens + r.CompletionTokens)),
            CreditUsage.Of(rows.Sum(r => r.InputCredits), rows.Sum(r => r.OutputCredits)),
            days));
    }

    // The store keeps Unix milliseconds, so nothing is older than 1970; the upper end leaves room for a
    // whole-day "to" (9999-12-30 ends at 9999-12-31T00:00Z) without leaving DateTimeOffset's range.
    private static readonly DateTimeOffset Earliest = DateTimeOffset.UnixEpoch;
    private static readonly DateTimeOffset Latest = new(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>
    /// A date means the whole day (so <c>to=2026-11-21</c> includes the 21st); a time means that instant. Either
    /// lies between 1970-01-01 and 9999-12-30 (a date) or 9999-12-31T00:00Z (a time): anything else is a 400.
    /// </summary>
    private static DateTimeOffset? ParseBound(string field, string? value, bool endOfDay)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var outOfRange = HubProblemException.Validation(field, $"{field} must lie between 1970-01-01 and 9999-12-30.");
        if (DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            if (date < DateOnly.FromDateTime(Earliest.UtcDateTime) || date >= DateOnly.FromDateTime(Latest.UtcDateTime)) throw outOfRange;
            return new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).AddDays(endOfDay ? 1 : 0);
        }
        if (Cursor.TryParseTime(value, out var time))
            return time >= Earliest && time <= Latest ? time : throw outOfRange;
        throw HubProblemException.Validation(field, $"{field} must be a date (2026-11-21) or an RFC 3339 time.");
    }
}
