using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Hub.Api.Auth;
using Hub.Api.Errors;
using Hub.Api.Paging;
using Hub.Core.Bots;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Hub.Api.Bots;

/// <summary>Bots, their API keys and their webhook secret (admin only).</summary>
public static class BotsApi
{
    public static RouteGroupBuilder MapBotsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/bots").WithTags("Bots").RequireAuthorization(AuthExtensions.AdminPolicy);
        group.MapPost("/", CreateBot).WithName("CreateBot").WithSummary("Create a bot; returns its first API key once.")
            .Accepts<BotInput>("application/json");
        group.MapGet("/", ListBots).WithName("ListBots")
            .WithSummary("Cursor-paged in creation order (limit 1-100, default 20).");
        group.MapGet("/{id}", GetBot).WithName("GetBot");
        group.MapPatch("/{id}", UpdateBot).WithName("UpdateBot").WithSummary("Change the fields given; re-enable a webhook with webhook.status.")
            .Accepts<BotChanges>("application/json");
        group.MapDelete("/{id}", DeleteBot).WithName("DeleteBot");
        group.MapPost("/{id}/keys", CreateKey).WithName("CreateBotKey");
        group.MapGet("/{id}/keys", ListKeys).WithName("ListBotKeys");
        group.MapDelete("/{id}/keys/{keyId}", DeleteKey).WithName("DeleteBotKey");
        group.MapPost("/{id}/webhook/rotate-secret", RotateSecret).WithName("RotateWebhookSecret")
            .WithSummary("New whsec_ secret; the old one keeps signing, as a second signature, for 24 h.");
        return group;
    }

    public static string NewWebhookSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    internal static async Task<Results<Created<BotView>, ValidationProblem>> CreateBot(
        HttpRequest request, HubDb db, TimeProvider clock, IOptions<HubOptions> hub)
    {
        var input = await JsonBody.ReadAsync<BotInput>(request, 4 * 1024 * 1024);
        var errors = BotValidation.Check(input, creating: true, hub.Value.WebhookAllowPrivate);
        if (errors.Count > 0) return HubProblem.Validation(errors);

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var bot = new BotRecord
        {
            Id = Ids.New("bot"),
            Name = input.Name!.Trim(),
            Instructions = input.Instructions,
            Model = input.Model,
            Temperature = input.Temperature,
            Knowledge = BotRecord.ToJsonList(input.Knowledge),
            FallbackText = input.FallbackText,
            HandoffKeywords = BotRecord.ToJsonList(input.Handoff?.Keywords),
            HandoffOnNoAnswer = input.Handoff?.OnNoAnswer ?? false,
            InputCreditsPer1k = input.Pricing?.InputCreditsPer1k ?? 0,
            OutputCreditsPer1k = input.Pricing?.OutputCreditsPer1k ?? 0,
            BlockingTimeoutSeconds = input.BlockingTimeoutSeconds ?? 60,
            WebhookUrl = string.IsNullOrEmpty(input.Webhook?.Url) ? null : input.Webhook!.Url,
            WebhookEvents = BotRecord.ToJsonList(input.Webhook?.Events ?? ["message.reply"]),
            WebhookSecret = NewWebhookSecret(),
            WebhookStatus = input.Webhook?.Status ?? "enabled",
            CreatedAt = now,
            UpdatedAt = now,
        };
        var (keyId, apiKey) = NewKey();
        await db.InTransactionAsync(async (c, tx) =>
        {
            await c.ExecuteAsync(
                """
                INSERT INTO bots (id, name, instructions, model, temperature, knowledge, fallback_text, handoff_keywords, handoff_on_no_answer,
                    input_credits_per_1k, output_credits_per_1k, blocking_timeout_seconds, webhook_url, webhook_events,
                    webhook_secret, webhook_status, created_at, updated_at)
                VALUES (@Id, @Name, @Instructions, @Model, @Temperature, @Knowledge, @FallbackText, @HandoffKeywords, @HandoffOnNoAnswer,
                    @InputCreditsPer1k, @OutputCreditsPer1k, @BlockingTimeoutSeconds, @WebhookUrl, @WebhookEvents,
                    @WebhookSecret, @WebhookStatus, @CreatedAt, @UpdatedAt)
                """, bot, tx);
            await InsertKey(c, tx, keyId, bot.Id, apiKey, now);
            return 0;
        });
        return TypedResults.Created($"/v1/bots/{bot.Id}", BotView.Of(bot) with { ApiKey = apiKey });
    }

    internal static async Task<Ok<ListResult<BotView>>> ListBots(HubDb db, string? limit, string? cursor)
    {
        var take = Cursor.Limit(limit);
        var (afterCreatedAt, afterId) = DecodeCursor(cursor);
        await using var c = await db.OpenAsync();
        var rows = (await c.QueryAsync<BotRecord>(
            $"""
            SELECT * FROM bots
            WHERE created_at > @afterCreatedAt OR (created_at = @afterCreatedAt AND id > @afterId)
            ORDER BY created_at, id {db.Dialect.LimitClause}
            """, new { afterCreatedAt, afterId, limit = take + 1 })).ToList();
        var hasMore = rows.Count > take;
        var page = rows.Take(take).ToList();
        return TypedResults.Ok(new ListResult<BotView>(page.Select(BotView.Of).ToList(),
            hasMore ? EncodeCursor(page[^1]) : null, hasMore));
    }

    // Bots have no sequence column: the page walk is keyed on (created_at, id), which never changes for a
    // bot, so nothing is skipped or repeated while bots are added or deleted.
    private const string CursorKind = "bot:";

    private static string EncodeCursor(BotRecord last) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{CursorKind}{last.CreatedAt}:{last.Id}"));

    private static (long CreatedAt, string Id) DecodeCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor)) return (long.MinValue, "");
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            var colon = text.IndexOf(':', CursorKind.Length);
            if (text.StartsWith(CursorKind, StringComparison.Ordinal) && colon > CursorKind.Length && colon < text.Length - 1
                && long.TryParse(text.AsSpan(CursorKind.Length, colon - CursorKind.Length), out var createdAt))
                return (createdAt, text[(colon + 1)..]);
        }
        catch (FormatException) { }
        throw HubProblemException.Validation("cursor", "cursor is not one this list returned.");
    }

    internal static async Task<Results<Ok<BotView>, ProblemHttpResult>> GetBot(string id, HubDb db) =>
        await BotReader.GetAsync(db, id) is { } bot ? TypedResults.Ok(BotView.Of(bot)) : HubProblem.NotFound("The bot");

    internal static async Task<Results<Ok<BotView>, ProblemHttpResult, ValidationProblem>> UpdateBot(
        string id, HttpRequest request, HubDb db, BotCache bots, TimeProvider clock, IOptions<HubOptions> hub)
    {
        var input = (await JsonBody.ReadAsync<BotChanges>(request, 4 * 1024 * 1024)).AsInput();
        var errors = BotValidation.Check(input, creating: false, hub.Value.WebhookAllowPrivate);
        if (errors.Count > 0) return HubProblem.Validation(errors);

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var updated = await db.InTransactionAsync(async (c, tx) =>
        {
            var bot = await c.QuerySingleOrDefaultAsync<BotRecord>(
                $"SELECT * FROM {db.Dialect.LockedTable("bots")} WHERE id = @id", new { id }, tx);
            if (bot is null) return null;
            var webhookUrl = input.Webhook?.Url is { } url ? (url.Length == 0 ? null : url) : bot.WebhookUrl;
            var status = input.Webhook?.Status ?? bot.WebhookStatus;
            var next = new BotRecord
            {
                Id = bot.Id,
                Name = input.Name?.Trim() ?? bot.Name,
                Instructions = EmptyIsNull(input.Instructions, bot.Instructions),
                Model = EmptyIsNull(input.Model, bot.Model),
                Temperature = input.Temperature ?? bot.Temperature,
                Knowledge = input.Knowledge is null ? bot.Knowledge : BotRecord.ToJsonList(input.Knowledge),
                FallbackText = EmptyIsNull(input.FallbackText, bot.FallbackText),
                HandoffKeywords = input.Handoff?.Keywords is null ? bot.HandoffKeywords : BotRecord.ToJsonList(input.Handoff.Keywords),
                HandoffOnNoAnswer = input.Handoff?.OnNoAnswer ?? bot.HandoffOnNoAnswer,
                InputCreditsPer1k = input.Pricing?.InputCreditsPer1k ?? bot.InputCreditsPer1k,
                OutputCreditsPer1k = input.Pricing?.OutputCreditsPer1k ?? bot.OutputCreditsPer1k,
                BlockingTimeoutSeconds = input.BlockingTimeoutSeconds ?? bot.BlockingTimeoutSeconds,
                WebhookUrl = webhookUrl,
                WebhookEvents = input.Webhook?.Events is null ? bot.WebhookEvents : BotRecord.ToJsonList(input.Webhook.Events),
                WebhookSecret = bot.WebhookSecret,
                WebhookPreviousSecret = bot.WebhookPreviousSecret,
                WebhookPreviousSecretExpiresAt = bot.WebhookPreviousSecretExpiresAt,
                WebhookStatus = status,
                // Re-enabling (or pointing at a new URL) clears the reason the endpoint was disabled.
                WebhookDisabledReason = status == "enabled" ? null : bot.WebhookDisabledReason,
                CreatedAt = bot.CreatedAt,
                UpdatedAt = now,
            };
            await c.ExecuteAsync(
                """
                UPDATE bots SET name = @Name, instructions = @Instructions, model = @Model, temperature = @Temperature,
                    knowledge = @Knowledge, fallback_text = @FallbackText, handoff_keywords = @HandoffKeywords,
                    handoff_on_no_answer = @HandoffOnNoAnswer,
                    input_credits_per_1k = @InputCreditsPer1k, output_credits_per_1k = @OutputCreditsPer1k,
                    blocking_timeout_seconds = @BlockingTimeoutSeconds, webhook_url = @WebhookUrl,
                    webhook_events = @WebhookEvents, webhook_status = @WebhookStatus,
                    webhook_disabled_reason = @WebhookDisabledReason, updated_at = @UpdatedAt,
                    webhook_failing_since = CASE WHEN @WebhookStatus = 'enabled' AND webhook_status <> 'enabled' THEN NULL ELSE webhook_failing_since END
                WHERE id = @Id
                """, next, tx);
            return next;
        });
        bots.Evict(id);
        return updated is null ? HubProblem.NotFound("The bot") : TypedResults.Ok(BotView.Of(updated));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteBot(string id, HubDb db, BotCache bots, BotKeyCache keys)
    {
        var deleted = await db.InTransactionAsync(async (c, tx) =>
        {
            await c.ExecuteAsync("DELETE FROM bot_keys WHERE bot_id = @id", new { id }, tx);
            return await c.ExecuteAsync("DELETE FROM bots WHERE id = @id", new { id }, tx);
        });
        bots.Evict(id);
        keys.Clear();
        return deleted == 0 ? HubProblem.NotFound("The bot") : TypedResults.NoContent();
    }

    internal static async Task<Results<Created<KeyCreated>, ProblemHttpResult>> CreateKey(string id, HubDb db, TimeProvider clock)
    {
        if (await BotReader.GetAsync(db, id) is null) return HubProblem.NotFound("The bot");
        var (keyId, apiKey) = NewKey();
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await db.InTransactionAsync((c, tx) => InsertKey(c, tx, keyId, id, apiKey, now));
        return TypedResults.Created($"/v1/bots/{id}/keys/{keyId}",
            new KeyCreated(keyId, apiKey, id, DateTimeOffset.FromUnixTimeMilliseconds(now)));
    }

    internal static async Task<Results<Ok<ListResult<KeyView>>, ProblemHttpResult>> ListKeys(string id, HubDb db)
    {
        if (await BotReader.GetAsync(db, id) is null) return HubProblem.NotFound("The bot");
        await using var c = await db.OpenAsync();
        var keys = await c.QueryAsync<(string Id, string BotId, string KeyPrefix, long CreatedAt)>(
            "SELECT id, bot_id, key_prefix, created_at FROM bot_keys WHERE bot_id = @id ORDER BY created_at, id", new { id });
        return TypedResults.Ok(new ListResult<KeyView>(
            keys.Select(k => new KeyView(k.Id, k.BotId, k.KeyPrefix, DateTimeOffset.FromUnixTimeMilliseconds(k.CreatedAt))).ToList(),
            null, false));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteKey(string id, string keyId, HubDb db, BotKeyCache keys)
    {
        var deleted = await db.ExecuteAsync("DELETE FROM bot_keys WHERE id = @keyId AND bot_id = @id", new { id, keyId });
        keys.Clear();
        return deleted == 0 ? HubProblem.NotFound("The key") : TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<BotView>, ProblemHttpResult>> RotateSecret(string id, HubDb db, BotCache bots, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        var rotated = await db.InTransactionAsync(async (c, tx) =>
        {
            var bot = await c.QuerySingleOrDefaultAsync<BotRecord>(
                $"SELECT * FROM {db.Dialect.LockedTable("bots")} WHERE id = @id", new { id }, tx);
            if (bot is null) return null;
            await c.ExecuteAsync(
                """
                UPDATE bots SET webhook_previous_secret = webhook_secret, webhook_previous_secret_expires_at = @expires,
                    webhook_secret = @secret, updated_at = @now WHERE id = @id
                """,
                new { id, secret = NewWebhookSecret(), expires = now.AddHours(24).ToUnixTimeMilliseconds(), now = now.ToUnixTimeMilliseconds() }, tx);
            return await c.QuerySingleAsync<BotRecord>("SELECT * FROM bots WHERE id = @id", new { id }, tx);
        });
        bots.Evict(id);
        return rotated is null ? HubProblem.NotFound("The bot") : TypedResults.Ok(BotView.Of(rotated));
    }

    private static (string KeyId, string ApiKey) NewKey() => (Ids.New("key"), "hub_sk_" + Ids.RandomToken(32));

    private static Task<int> InsertKey(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx,
        string keyId, string botId, string apiKey, long now) =>
        c.ExecuteAsync(
            "INSERT INTO bot_keys (id, bot_id, key_hash, key_prefix, created_at) VALUES (@keyId, @botId, @hash, @prefix, @now)",
            new { keyId, botId, hash = Ids.HashKey(apiKey), prefix = apiKey[..11], now }, tx);

    private static string? EmptyIsNull(string? input, string? current) =>
        input is null ? current : input.Length == 0 ? null : input;
}
