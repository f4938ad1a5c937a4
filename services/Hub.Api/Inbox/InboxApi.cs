using System.Security.Claims;
using Dapper;
using Hub.Api.Auth;
using Hub.Api.Errors;
using Hub.Api.Paging;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Messages;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.Api.Inbox;

public sealed record InboxCounts(long Queue, long Mine, long All);
public sealed record InboxList(IReadOnlyList<ConversationView> Data, InboxCounts Counts);
public sealed record ReplyInput(string? Text);

/// <summary>The REST mirror of the inbox: the views with their counts, and the hub's actions.</summary>
public static class InboxApi
{
    public static RouteGroupBuilder MapInboxApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/inbox").WithTags("Inbox").RequireAuthorization(AuthExtensions.AgentPolicy);
        group.MapGet("/conversations", List).WithName("InboxConversations")
            .WithSummary("view=queue (waiting for a person), mine (claimed by me) or all (every open conversation), newest activity first.");
        group.MapPost("/conversations/{id}/claim", (string id, ClaimsPrincipal user, InboxActions a) => Act(a.ClaimAsync(user, id))).WithName("InboxClaim");
        group.MapPost("/conversations/{id}/reply", async (string id, HttpRequest request, ClaimsPrincipal user, InboxActions a) =>
            await Act(a.ReplyAsync(user, id, (await JsonBody.ReadAsync<ReplyInput>(request, 256 * 1024)).Text))).WithName("InboxReply")
            .Accepts<ReplyInput>("application/json");
        group.MapPost("/conversations/{id}/hand-back", (string id, ClaimsPrincipal user, InboxActions a) => Act(a.HandBackAsync(user, id))).WithName("InboxHandBack");
        group.MapPost("/conversations/{id}/close", (string id, ClaimsPrincipal user, InboxActions a) => Act(a.CloseAsync(user, id))).WithName("InboxClose");
        return group;
    }

    private static async Task<IResult> Act(Task<InboxActions.Outcome> action) => await action switch
    {
        InboxActions.Done { Message: { } message } => TypedResults.Ok(MessageView.Of(message)),
        InboxActions.Done done => TypedResults.Ok(ConversationView.Of(done.Conversation)),
        InboxActions.Refused refused => HubProblem.Of(refused.Status, refused.Code, refused.Detail),
        _ => HubProblem.Of(500, "internal_error"),
    };

    internal static async Task<Results<Ok<InboxList>, ValidationProblem>> List(ClaimsPrincipal user, HubDb db, string? view, string? limit)
    {
        view ??= "queue";
        if (view is not ("queue" or "mine" or "all")) return HubProblem.Validation("view", "view must be queue, mine or all.");
        var take = Cursor.Limit(limit, fallback: 50, max: 200);
        var scope = user.AgentScope();
        var me = user.AgentId();

        var filter = scope is null ? "" : "AND bot_id IN @scope";
        var where = view switch
        {
            "queue" => "status = 'pending_human'",
            "mine" => "status = 'human' AND assigned_agent_id = @me",
            _ => "status <> 'closed'",
        };
        await using var c = await db.OpenAsync();
        var rows = await c.QueryAsync<ConversationRecord>(
            $"SELECT * FROM conversations WHERE {where} {filter} ORDER BY updated_at DESC, seq DESC {db.Dialect.LimitClause}",
            new { me, scope, limit = take });
        var counts = await c.QuerySingleAsync<(long Queue, long Mine, long All)>(
            $"""
            SELECT
              COALESCE(SUM(CASE WHEN status = 'pending_human' THEN 1 ELSE 0 END), 0) AS queue,
              COALESCE(SUM(CASE WHEN status = 'human' AND assigned_agent_id = @me THEN 1 ELSE 0 END), 0) AS mine,
              COUNT(*) AS all_open
            FROM conversations WHERE status <> 'closed' {filter}
            """, new { me, scope });
        return TypedResults.Ok(new InboxList(rows.Select(ConversationView.Of).ToList(), new InboxCounts(counts.Queue, counts.Mine, counts.All)));
    }
}
