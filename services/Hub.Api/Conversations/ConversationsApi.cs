using System.Security.Claims;
using System.Text.Json;
using Dapper;
using Hub.Api.Auth;
using Hub.Api.Bots;
using Hub.Api.Errors;
using Hub.Api.Paging;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Core.Messages;
using Hub.Core.Webhooks;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.Api.Conversations;

/// <summary>Conversations and their messages, for backends and CRMs (bot key; the admin key sees all).</summary>
public static class ConversationsApi
{
    public static RouteGroupBuilder MapConversationsApi(this IEndpointRouteBuilder app)
    {
        // Agents read conversations (the inbox thread) but act on them through the inbox.
        var group = app.MapGroup("/v1/conversations").WithTags("Conversations").RequireAuthorization(AuthExtensions.ReaderPolicy);
        group.MapPost("/", CreateConversation).WithName("CreateConversation").Accepts<CreateConversation>("application/json")
            .RequireAuthorization(AuthExtensions.ClientPolicy);
        group.MapGet("/", ListConversations).WithName("ListConversations")
            .WithSummary("Cursor-paged in creation order: nothing skipped or repeated while conversations change.");
        group.MapGet("/{id}", GetConversation).WithName("GetConversation");
        group.MapGet("/{id}/messages", ListMessages).WithName("ListMessages");
        group.MapPost("/{id}/handoff", Handoff).WithName("HandOffConversation").Accepts<HandoffInput>("application/json")
            .RequireAuthorization(AuthExtensions.ClientPolicy);
        group.MapPost("/{id}/close", Close).WithName("CloseConversation").RequireAuthorization(AuthExtensions.ClientPolicy);
        return group;
    }

    internal static async Task<Results<Created<ConversationView>, ProblemHttpResult, ValidationProblem>> CreateConversation(
        HttpRequest request, ClaimsPrincipal user, HubDb db, TimeProvider clock, IBus bus)
    {
        var input = JsonBody.IsEmpty(request) ? new CreateConversation(null, null, null)
            : await JsonBody.ReadAsync<CreateConversation>(request, 64 * 1024);
        var botId = user.BotId() ?? input.BotId;
        if (botId is null) return HubProblem.Validation("bot_id", "bot_id is required with the admin key.");
        if (user.BotId() is { } own && input.BotId is { } asked && asked != own)
            return HubProblem.Forbidden("A bot key creates conversations only in its own bot.");
        if (input.UserId is { Length: > 200 }) return HubProblem.Validation("user_id", "user_id may be at most 200 characters.");
        if (input.Metadata is { } m && m.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            return HubProblem.Validation("metadata", "metadata must be a JSON object.");
        if (await BotReaderExists(db, botId) is false) return HubProblem.NotFound("The bot");

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var conversation = new ConversationRecord
        {
            Id = Ids.New("conv"),
            BotId = botId,
            UserId = input.UserId,
            Status = ConversationStatus.Bot,
            Metadata = input.Metadata is { ValueKind: JsonValueKind.Object } meta ? meta.GetRawText() : null,
            CreatedAt = now,
            UpdatedAt = now,
        };
        var deliveryId = await db.InTransactionAsync(async (c, tx) =>
        {
            await c.ExecuteAsync(
                """
                INSERT INTO conversations (id, bot_id, user_id, status, metadata, last_sequence, created_at, updated_at)
                VALUES (@Id, @BotId, @UserId, @Status, @Metadata, 0, @CreatedAt, @UpdatedAt)
                """, conversation, tx);
            if (db.Dialect.StampPosition("conversations", "@Id") is { } stamp)
                await c.ExecuteAsync(stamp, new { conversation.Id }, tx);
            return await WebhookOutbox.EnqueueAsync(c, tx, botId, WebhookOutbox.Types.ConversationCreated,
                ConversationView.Of(conversation), now, conversation.Id);
        });
        await WebhookOutbox.NotifyAsync(bus, [deliveryId]);
        return TypedResults.Created($"/v1/conversations/{conversation.Id}", ConversationView.Of(conversation));
    }

    internal static async Task<Results<Ok<ListResult<ConversationView>>, ProblemHttpResult, ValidationProblem>> ListConversations(
        ClaimsPrincipal user, HubDb db, string? status, string? updated_after, string? limit, string? cursor, string? bot_id)
    {
        if (status is not null && !ConversationStatus.All.Contains(status))
            return HubProblem.Validation("status", "status must be one of bot, pending_human, human, closed.");
        var take = Cursor.Limit(limit);
        var after = Cursor.Decode("conv", cursor);
        var updatedAfter = Cursor.Time("updated_after", updated_after);
        // A bot key asking for another bot is refused, not quietly given its own bot's list.
        if (bot_id is not null && !user.MaySee(bot_id)) return HubProblem.Forbidden("These credentials may not read that bot's conversations.");
        var botId = user.BotId() ?? bot_id;
        var scope = botId is null ? user.AgentScope() : null;

        // Paged by a position that increases in commit order (SQLite: seq; SQL Server: the insert's rowversion,
        // read below MIN_ACTIVE_ROWVERSION()): a conversation created while a CRM pages is never passed over.
        await using var c = await db.OpenAsync();
        var rows = (await c.QueryAsync<ConversationRecord, long, (ConversationRecord Row, long Position)>(
            $"""
            {db.Dialect.PositionBound}
            SELECT *, {db.Dialect.Position("conversations")} FROM conversations
            WHERE {db.Dialect.AfterPosition("conversations", "@after")}
              AND (@botId IS NULL OR bot_id = @botId)
              AND (@status IS NULL OR status = @status)
              AND (@updatedAfter IS NULL OR updated_at > @updatedAfter)
              {(scope is null ? "" : "AND bot_id IN @scope")}
            ORDER BY {db.Dialect.PositionOrder("conversations")} {db.Dialect.LimitClause}
            """,
            (row, position) => (row, position),
            new { after, botId, status, updatedAfter, scope, limit = take + 1 }, splitOn: "position")).ToList();
        var hasMore = rows.Count > take;
        var page = rows.Take(take).ToList();
        return TypedResults.Ok(new ListResult<ConversationView>(
            page.Select(r => ConversationView.Of(r.Row)).ToList(),
            hasMore ? Cursor.Encode("conv", page[^1].Position) : null,
            hasMore));
    }

    internal static async Task<Results<Ok<ConversationView>, ProblemHttpResult>> GetConversation(string id, ClaimsPrincipal user, HubDb db) =>
        await FindAsync(db, id, user) is { } conversation
            ? TypedResults.Ok(ConversationView.Of(conversation))
            : HubProblem.NotFound("The conversation");

    internal static async Task<Results<Ok<ListResult<MessageView>>, ProblemHttpResult, ValidationProblem>> ListMessages(
        string id, ClaimsPrincipal user, HubDb db, string? limit, string? cursor)
    {
        var take = Cursor.Limit(limit, fallback: 50, max: 200);
        var after = Cursor.Decode("msg", cursor);
        if (await FindAsync(db, id, user) is null) return HubProblem.NotFound("The conversation");

        await using var c = await db.OpenAsync();
        var rows = (await c.QueryAsync<MessageRecord>(
            $"SELECT * FROM messages WHERE conversation_id = @id AND sequence > @after ORDER BY sequence {db.Dialect.LimitClause}",
            new { id, after, limit = take + 1 })).ToList();
        var hasMore = rows.Count > take;
        var page = rows.Take(take).ToList();
        return TypedResults.Ok(new ListResult<MessageView>(
            page.Select(MessageView.Of).ToList(),
            hasMore ? Cursor.Encode("msg", page[^1].Sequence) : null,
            hasMore));
    }

    internal static async Task<Results<Ok<ConversationView>, ProblemHttpResult>> Handoff(
        string id, HttpRequest request, ClaimsPrincipal user, HubDb db, TimeProvider clock, IBus bus)
    {
        var input = JsonBody.IsEmpty(request) ? new HandoffInput(null) : await JsonBody.ReadAsync<HandoffInput>(request, 16 * 1024);
        if (input.Reason is { Length: > ConversationTransitions.MaxReasonLength })
            throw HubProblemException.Validation("reason", $"reason may be at most {ConversationTransitions.MaxReasonLength} characters.");
        return await MoveAsync(db, clock, bus, id, user, ConversationStatus.PendingHuman, input.Reason);
    }

    internal static Task<Results<Ok<ConversationView>, ProblemHttpResult>> Close(
        string id, ClaimsPrincipal user, HubDb db, TimeProvider clock, IBus bus) =>
        MoveAsync(db, clock, bus, id, user, ConversationStatus.Closed);

    private static async Task<Results<Ok<ConversationView>, ProblemHttpResult>> MoveAsync(
        HubDb db, TimeProvider clock, IBus bus, string id, ClaimsPrincipal user, string to, string? reason = null)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var result = await db.InTransactionAsync((c, tx) =>
            ConversationTransitions.MoveAsync(c, tx, db.Dialect, id, to, now, conversation => user.MaySee(conversation.BotId), reason: reason));
        switch (result)
        {
            case ConversationTransitions.Moved moved:
                await WebhookOutbox.NotifyAsync(bus, [moved.DeliveryId]);
                await Core.Inbox.InboxSignals.ConversationChangedAsync(bus, moved.Conversation.Id, moved.Conversation.BotId);
                return TypedResults.Ok(ConversationView.Of(moved.Conversation));
            case ConversationTransitions.AlreadyThere same:
                return TypedResults.Ok(ConversationView.Of(same.Conversation));
            case ConversationTransitions.NotAllowed { Conversation.Status: ConversationStatus.Closed }:
                return HubProblem.Of(409, "conversation_closed", "The conversation is closed.");
            case ConversationTransitions.NotAllowed refused:
                return HubProblem.Conflict($"A conversation in '{refused.Conversation.Status}' cannot move to '{to}'.");
            default:
                return HubProblem.NotFound("The conversation");
        }
    }

    /// <summary>The conversation if it exists and the caller may see it; a foreign one is "not found", not "forbidden".</summary>
    public static async Task<ConversationRecord?> FindAsync(HubDb db, string id, ClaimsPrincipal user)
    {
        await using var c = await db.OpenAsync();
        var conversation = await c.QuerySingleOrDefaultAsync<ConversationRecord>("SELECT * FROM conversations WHERE id = @id", new { id });
        return conversation is not null && user.MaySee(conversation.BotId) ? conversation : null;
    }

    private static async Task<bool> BotReaderExists(HubDb db, string botId) =>
        await Core.Bots.BotReader.GetAsync(db, botId) is not null;
}
