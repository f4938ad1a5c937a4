using System.Data.Common;
using Dapper;
using Hub.Core.Data;
using Hub.Core.Webhooks;

namespace Hub.Core.Conversations;

/// <summary>
/// Every status change of a conversation goes through here, inside the caller's transaction: the row is
/// locked, the move checked against <see cref="ConversationStatus.CanMove"/>, stored, and emitted as its
/// webhook event (data: the conversation with <c>previous_status</c>).
/// </summary>
public static class ConversationTransitions
{
    public abstract record Result;
    public sealed record Moved(ConversationRecord Conversation, string PreviousStatus, string? DeliveryId) : Result;
    public sealed record AlreadyThere(ConversationRecord Conversation) : Result;
    public sealed record NotAllowed(ConversationRecord Conversation) : Result;
    public sealed record Missing : Result;

    /// <summary>The <c>handoff_reason</c> column's size (NVARCHAR(500) on SQL Server).</summary>
    public const int MaxReasonLength = 500;

    /// <summary>A reason as stored: trimmed, blank as none, cut to <see cref="MaxReasonLength"/> (a model's argument is not ours to refuse).</summary>
    public static string? Reason(string? reason)
    {
        reason = reason?.Trim();
        if (string.IsNullOrEmpty(reason)) return null;
        return reason.Length <= MaxReasonLength ? reason : reason[..MaxReasonLength];
    }

    public static string EventFor(string from, string to) => to switch
    {
        ConversationStatus.PendingHuman => WebhookOutbox.Types.ConversationHandoffRequested,
        ConversationStatus.Human => WebhookOutbox.Types.ConversationAssigned,
        ConversationStatus.Bot => WebhookOutbox.Types.ConversationHandedBack,
        ConversationStatus.Closed => WebhookOutbox.Types.ConversationClosed,
        _ => throw new ArgumentOutOfRangeException(nameof(to), $"No event for {from} → {to}."),
    };

    /// <param name="mayAccess">False hides the conversation (another bot's): it is reported <see cref="Missing"/>.</param>
    /// <param name="agentId">The agent who holds the conversation after a move to <c>human</c>.</param>
    /// <param name="reason">On a move to <c>pending_human</c>: why (stored as <c>handoff_reason</c>, at most
    /// <see cref="MaxReasonLength"/> characters). Other moves leave the last handoff's reason as it is.</param>
    public static async Task<Result> MoveAsync(DbConnection c, DbTransaction tx, SqlDialect dialect, string conversationId,
        string to, long now, Func<ConversationRecord, bool>? mayAccess = null, string? agentId = null, string? reason = null)
    {
        var conversation = await c.QuerySingleOrDefaultAsync<ConversationRecord>(
            $"SELECT * FROM {dialect.LockedTable("conversations")} WHERE id = @conversationId", new { conversationId }, tx);
        if (conversation is null || mayAccess?.Invoke(conversation) == false) return new Missing();
        if (conversation.Status == to) return new AlreadyThere(conversation);
        if (!ConversationStatus.CanMove(conversation.Status, to)) return new NotAllowed(conversation);

        if (to == ConversationStatus.PendingHuman)
            await c.ExecuteAsync(
                "UPDATE conversations SET status = @to, assigned_agent_id = NULL, handoff_reason = @reason, updated_at = @now WHERE id = @conversationId",
                new { conversationId, to, now, reason = Reason(reason) }, tx);
        else
            await c.ExecuteAsync(
                "UPDATE conversations SET status = @to, assigned_agent_id = @agent, updated_at = @now WHERE id = @conversationId",
                new { conversationId, to, now, agent = to == ConversationStatus.Human ? agentId : null }, tx);
        var moved = await c.QuerySingleAsync<ConversationRecord>("SELECT * FROM conversations WHERE id = @conversationId", new { conversationId }, tx);
        var deliveryId = await WebhookOutbox.EnqueueAsync(c, tx, moved.BotId, EventFor(conversation.Status, to),
            ConversationView.Of(moved) with { PreviousStatus = conversation.Status }, now, moved.Id);
        return new Moved(moved, conversation.Status, deliveryId);
    }
}
