using Dapper;
using Hub.Core.Bots;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Messages;
using Hub.Core.Webhooks;

namespace Hub.AiWorker.Replies;

/// <summary>The AI worker's SQL: claim a user message, read its history, store exactly one reply.</summary>
public sealed class ReplyStore(HubDb db, BotCache bots, TimeProvider clock)
{
    public abstract record Claim;
    public sealed record Claimed(MessageRecord Message, BotRecord Bot) : Claim;
    public sealed record AlreadyAnswered(string ReplyId) : Claim;
    public sealed record NotWithBot(string Status) : Claim;
    /// <summary>Another worker holds the lease, or the message is gone or already settled.</summary>
    public sealed record Nothing : Claim;

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Takes the lease on a pending message (or on one whose lease ran out).</summary>
    public Task<Claim> ClaimAsync(string messageId, TimeSpan lease, CancellationToken ct) =>
        db.InTransactionAsync<Claim>(async (c, tx) =>
        {
            var now = Now;
            var leaseEnd = now + (long)lease.TotalMilliseconds;
            // The usual case in one statement: a claimable message in a conversation still with the bot. Anything
            // else (answered, leased elsewhere, the conversation left the bot, gone) is sorted out below.
            var taken = await c.QuerySingleOrDefaultAsync<MessageRecord>(
                db.Dialect.UpdateReturning("messages", "reply_state = 'working', redrive_at = @leaseEnd, attempts = attempts + 1",
                    """
                    id = @messageId AND sender = 'user'
                    AND (reply_state = 'pending' OR (reply_state = 'working' AND redrive_at <= @now))
                    AND (SELECT status FROM conversations WHERE conversations.id = messages.conversation_id) = 'bot'
                    """, "*"),
                new { messageId, now, leaseEnd }, tx);
            if (taken is not null)
                return await bots.GetAsync(c, tx, taken.BotId) is { } claimedBot ? new Claimed(taken, claimedBot) : new Nothing();

            var message = await c.QuerySingleOrDefaultAsync<MessageRecord>(
                $"SELECT * FROM {db.Dialect.LockedTable("messages")} WHERE id = @messageId AND sender = 'user'",
                new { messageId }, tx);
            if (message is null) return new Nothing();

            if (message.ReplyState == ReplyStates.Answered)
            {
                var replyId = await c.QuerySingleOrDefaultAsync<string>(
                    "SELECT id FROM messages WHERE reply_to = @messageId AND sender = 'ai'", new { messageId }, tx);
                return replyId is null ? new Nothing() : new AlreadyAnswered(replyId);
            }
            var claimable = message.ReplyState == ReplyStates.Pending
                || (message.ReplyState == ReplyStates.Working && message.RedriveAt <= now);
            if (!claimable) return new Nothing();

            var status = await c.QuerySingleAsync<string>(
                "SELECT status FROM conversations WHERE id = @ConversationId", new { message.ConversationId }, tx);
            if (status != "bot")
            {
                await c.ExecuteAsync(
                    "UPDATE messages SET reply_state = 'skipped', redrive_at = NULL WHERE id = @messageId",
                    new { messageId }, tx);
                return new NotWithBot(status);
            }

            // Claimable and with the bot, yet not taken above: only a status that changed in between (SQL Server
            // without the lock) gets here; claim it the long way.
            await c.ExecuteAsync(
                "UPDATE messages SET reply_state = 'working', redrive_at = @leaseEnd, attempts = attempts + 1 WHERE id = @messageId",
                new { messageId, leaseEnd }, tx);
            var bot = await bots.GetAsync(c, tx, message.BotId);
            return bot is null ? new Nothing() : new Claimed(message, bot);
        }, ct);

    /// <summary>The conversation up to and including <paramref name="message"/>, oldest first.</summary>
    public async Task<IReadOnlyList<MessageRecord>> HistoryAsync(MessageRecord message, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        var rows = await c.QueryAsync<MessageRecord>(new CommandDefinition(
            $"""
            SELECT sender, content, sequence FROM messages
            WHERE conversation_id = @ConversationId AND sequence <= @Sequence
            ORDER BY sequence DESC {db.Dialect.LimitClause}
            """,
            new { message.ConversationId, message.Sequence, limit = Math.Max(1, limit) }, cancellationToken: ct));
        return rows.Reverse().ToList();
    }

    public abstract record Stored;
    public sealed record Inserted(MessageRecord Reply) : Stored
    {
        /// <summary>The <c>message.reply</c> webhook delivery, when the caller asked for (or fell back to) webhook mode.</summary>
        public string? DeliveryId { get; init; }
    }
    public sealed record Duplicate(string ReplyId) : Stored;
    public sealed record Refused(string Status) : Stored;

    /// <summary>
    /// Stores the AI reply unless the conversation left the bot meanwhile (a handoff while the reply was
    /// in flight) or a reply already exists (the unique index on <c>reply_to</c> is the last word).
    /// </summary>
    public async Task<Stored> StoreReplyAsync(MessageRecord userMessage, string replyId, string text, string? model,
        LlmUsageTotals usage, CancellationToken ct)
    {
        try
        {
            return await db.InTransactionAsync<Stored>(async (c, tx) =>
            {
                var status = await c.QuerySingleAsync<string>(
                    $"SELECT status FROM {db.Dialect.LockedTable("conversations")} WHERE id = @ConversationId",
                    new { userMessage.ConversationId }, tx);
                if (status != "bot")
                {
                    await c.ExecuteAsync("UPDATE messages SET reply_state = 'skipped', redrive_at = NULL WHERE id = @Id",
                        new { userMessage.Id }, tx);
                    return new Refused(status);
                }

                var now = Now;
                var reply = await MessageWriter.AppendAsync(c, tx, db.Dialect, new MessageRecord
                {
                    Id = replyId,
                    ConversationId = userMessage.ConversationId,
                    BotId = userMessage.BotId,
                    Sender = "ai",
                    Content = text,
                    ReplyTo = userMessage.Id,
                    Model = model,
                    PromptTokens = usage.PromptTokens,
                    CompletionTokens = usage.CompletionTokens,
                    InputCredits = usage.InputCredits,
                    OutputCredits = usage.OutputCredits,
                    CreatedAt = now,
                });
                // The mode is read by the UPDATE that locks the row: a blocking caller that gives up switches the message
                // to webhook mode in its own transaction, so exactly one of the two sees the other and the reply goes out once.
                var mode = await c.QuerySingleAsync<string?>(
                    db.Dialect.UpdateReturning("messages", "reply_state = 'answered', redrive_at = NULL, error_code = NULL",
                        "id = @Id", "response_mode"),
                    new { userMessage.Id }, tx);
                var deliveryId = mode == "webhook" && await bots.GetAsync(c, tx, reply.BotId) is { } bot
                    ? await WebhookOutbox.EnqueueAsync(c, tx, bot, WebhookOutbox.Types.MessageReply, ReplyObject.Of(reply), now,
                        reply.ConversationId, reply.Id)
                    : null;
                return new Inserted(reply) { DeliveryId = deliveryId };
            }, ct);
        }
        catch (System.Data.Common.DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            await using var c = await db.OpenAsync(ct);
            var existing = await c.QuerySingleAsync<string>(
                "SELECT id FROM messages WHERE reply_to = @Id AND sender = 'ai'", new { userMessage.Id });
            return new Duplicate(existing);
        }
    }

    /// <summary>
    /// The model (or the offline provider) asked for people: the conversation moves to <c>pending_human</c>
    /// and the message is left to them, with the model's reason (or "no answer") as the handoff's reason.
    /// Returns the conversation's status after, and the event's delivery.
    /// </summary>
    public Task<(string Status, string? DeliveryId)> HandOffAsync(MessageRecord userMessage, string? reason, CancellationToken ct) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var result = await ConversationTransitions.MoveAsync(c, tx, db.Dialect, userMessage.ConversationId,
                ConversationStatus.PendingHuman, Now, reason: reason);
            await c.ExecuteAsync("UPDATE messages SET reply_state = 'skipped', redrive_at = NULL WHERE id = @Id AND reply_state = 'working'",
                new { userMessage.Id }, tx);
            return result switch
            {
                ConversationTransitions.Moved moved => (moved.Conversation.Status, moved.DeliveryId),
                ConversationTransitions.AlreadyThere there => (there.Conversation.Status, (string?)null),
                ConversationTransitions.NotAllowed refused => (refused.Conversation.Status, null),
                _ => (ConversationStatus.Closed, null),
            };
        }, ct);

    /// <summary>
    /// The worker is stopping (or lost its broker) before the reply was stored: give the message back, due
    /// at once, rather than leave it held until the lease runs out.
    /// </summary>
    public async Task ReleaseAsync(string messageId)
    {
        await db.ExecuteAsync(
            "UPDATE messages SET reply_state = 'pending', redrive_at = @now WHERE id = @messageId AND reply_state = 'working'",
            new { messageId, now = Now });
    }

    public async Task MarkFailedAsync(string messageId, string code, CancellationToken ct)
    {
        await db.ExecuteAsync(
            "UPDATE messages SET reply_state = 'failed', redrive_at = NULL, error_code = @code WHERE id = @messageId AND reply_state = 'working'",
            new { messageId, code }, ct);
    }
}

public sealed record LlmUsageTotals(int PromptTokens, int CompletionTokens, double InputCredits, double OutputCredits);
