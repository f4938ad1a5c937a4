using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Hub.Api.Auth;
using Hub.Core.Bots;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Core.Messages;
using Hub.Core.Webhooks;

namespace Hub.Api.Messages;

/// <summary>
/// Stores a user message with its per-conversation <c>sequence</c> and, when the bot is to answer, a
/// pending reply marker with a re-drive time, all in one transaction with the idempotency record. Once
/// this commits the message is accepted: the re-driver will see it answered even if this process dies.
/// </summary>
public sealed class MessageIntake(HubDb db, BotCache bots, TimeProvider clock, Microsoft.Extensions.Options.IOptions<MessageOptions> options)
{
    private static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);
    private readonly long _redriveAfterMs = options.Value.ReplyRedriveSeconds * 1000L;

    public abstract record Outcome;
    /// <param name="Replayed">True when the Idempotency-Key named an earlier message: nothing new was stored.</param>
    public sealed record Accepted(MessageRecord Message, ConversationRecord Conversation, bool Replayed) : Outcome
    {
        /// <summary>Webhook deliveries (<c>message.received</c>, <c>conversation.handoff_requested</c>) to announce after commit.</summary>
        public IReadOnlyList<string?> DeliveryIds { get; init; } = [];
        /// <summary>A handoff keyword in this message sent the conversation to people instead of the bot.</summary>
        public bool HandedOff { get; init; }
    }
    public sealed record NoConversation : Outcome;
    public sealed record ConversationClosed : Outcome;
    public sealed record KeyReused : Outcome;

    public async Task<Outcome> AcceptAsync(ClaimsPrincipal user, string conversationId, string content, string mode,
        string? idempotencyKey, CancellationToken ct)
    {
        var requestHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{conversationId}\n{mode}\n{content}")));
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await db.InTransactionAsync((c, tx) => AcceptAsync(c, tx, user, conversationId, content, mode, idempotencyKey, requestHash), ct);
            }
            catch (System.Data.Common.DbException e) when (attempt == 0 && idempotencyKey is not null && db.Dialect.IsUniqueViolation(e))
            {
                // Two requests raced with one key: the second attempt finds the winner's record. (Deadlocks and
                // other transient failures are retried inside InTransactionAsync; a unique violation is not one.)
            }
        }
    }

    private async Task<Outcome> AcceptAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx,
        ClaimsPrincipal user, string conversationId, string content, string mode, string? idempotencyKey, string requestHash)
    {
        // The conversation's row lock queues the intakes of one conversation (and its sequence, which
        // MessageWriter's UPDATE then takes under the same lock).
        var conversation = await c.QuerySingleOrDefaultAsync<ConversationRecord>(
            $"SELECT * FROM {db.Dialect.LockedTable("conversations")} WHERE id = @conversationId", new { conversationId }, tx);
        if (conversation is null || !user.MaySee(conversation.BotId)) return new NoConversation();

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (idempotencyKey is not null)
        {
            // Locked, key range included when there is no row yet: of two requests racing with a new key (on two
            // conversations of the bot; on one, the conversation's lock already queued them) the second waits here
            // for the first to commit and then replays its message. Should they still collide (SQLite across
            // processes), the unique key fails the second and AcceptAsync runs it again.
            var earlier = await c.QuerySingleOrDefaultAsync<(string RequestHash, string MessageId, long CreatedAt)?>(
                $"""
                SELECT request_hash, message_id, created_at FROM {db.Dialect.LockedTable("idempotency_keys")}
                WHERE bot_id = @BotId AND {db.Dialect.IdempotencyKeyEquals("@idempotencyKey")}
                """,
                new { conversation.BotId, idempotencyKey }, tx);
            if (earlier is { } e && now - e.CreatedAt < IdempotencyWindow.TotalMilliseconds)
            {
                if (e.RequestHash != requestHash) return new KeyReused();
                var message = await c.QuerySingleAsync<MessageRecord>("SELECT * FROM messages WHERE id = @MessageId", new { e.MessageId }, tx);
                return new Accepted(message, conversation, Replayed: true);
            }
            if (earlier is not null)
                await c.ExecuteAsync($"DELETE FROM idempotency_keys WHERE bot_id = @BotId AND {db.Dialect.IdempotencyKeyEquals("@idempotencyKey")}",
                    new { conversation.BotId, idempotencyKey }, tx);
        }
        if (conversation.Status == ConversationStatus.Closed) return new ConversationClosed();

        // A handoff keyword sends the conversation to people with this very message.
        var bot = await bots.GetAsync(c, tx, conversation.BotId);
        var keyword = conversation.Status == ConversationStatus.Bot && bot is not null
            ? HandoffKeywords.FirstMatch(content, System.Text.Json.JsonSerializer.Deserialize<string[]>(bot.HandoffKeywords) ?? [])
            : null;
        var handoff = keyword is not null;

        var withBot = conversation.Status == ConversationStatus.Bot && !handoff;
        var stored = await MessageWriter.AppendAsync(c, tx, db.Dialect, new MessageRecord
        {
            Id = Ids.New("msg"),
            ConversationId = conversationId,
            BotId = conversation.BotId,
            Sender = "user",
            Content = content,
            ResponseMode = mode,
            ReplyState = withBot ? ReplyStates.Pending : null,
            RedriveAt = withBot ? now + _redriveAfterMs : null,
            CreatedAt = now,
            TraceParent = withBot ? Hub.Core.Telemetry.HubTracing.CurrentTraceParent() : null,
        });
        if (idempotencyKey is not null)
            await c.ExecuteAsync(
                "INSERT INTO idempotency_keys (bot_id, idem_key, request_hash, message_id, created_at) VALUES (@BotId, @idempotencyKey, @requestHash, @Id, @now)",
                new { conversation.BotId, idempotencyKey, requestHash, stored.Id, now }, tx);
        var received = bot is null ? null : await WebhookOutbox.EnqueueAsync(c, tx, bot, WebhookOutbox.Types.MessageReceived,
            MessageView.Of(stored), now, stored.ConversationId, stored.Id);
        if (handoff && await ConversationTransitions.MoveAsync(c, tx, db.Dialect, conversationId, ConversationStatus.PendingHuman, now,
                reason: "keyword: " + keyword)
                is ConversationTransitions.Moved moved)
            return new Accepted(stored, moved.Conversation, Replayed: false) { DeliveryIds = [received, moved.DeliveryId], HandedOff = true };
        return new Accepted(stored, conversation, Replayed: false) { DeliveryIds = [received] };
    }

    /// <summary>
    /// The caller stopped waiting: the reply goes out by webhook instead. If the worker stored it in the
    /// meantime (it saw the old mode, so it emitted nothing), the <c>message.reply</c> event is emitted
    /// here; both sides decide under the message's row lock, so the reply is delivered exactly once.
    /// Returns the delivery to announce, if any.
    /// </summary>
    public Task<string?> HandOverToWebhookAsync(string messageId) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var message = await c.QuerySingleOrDefaultAsync<MessageRecord>(
                $"SELECT * FROM {db.Dialect.LockedTable("messages")} WHERE id = @messageId", new { messageId }, tx);
            if (message is null || message.ResponseMode == "webhook") return null;
            await c.ExecuteAsync("UPDATE messages SET response_mode = 'webhook' WHERE id = @messageId", new { messageId }, tx);
            if (message.ReplyState != ReplyStates.Answered) return null;

            var reply = await c.QuerySingleOrDefaultAsync<MessageRecord>(
                "SELECT * FROM messages WHERE reply_to = @messageId AND sender = 'ai'", new { messageId }, tx);
            return reply is null ? null : await WebhookOutbox.EnqueueAsync(c, tx, reply.BotId, WebhookOutbox.Types.MessageReply,
                ReplyObject.Of(reply), clock.GetUtcNow().ToUnixTimeMilliseconds(), reply.ConversationId, reply.Id);
        });

    public async Task<MessageRecord?> GetAsync(string messageId, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        return await c.QuerySingleOrDefaultAsync<MessageRecord>("SELECT * FROM messages WHERE id = @messageId", new { messageId });
    }

    public async Task<MessageRecord?> ReplyToAsync(string messageId, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        return await c.QuerySingleOrDefaultAsync<MessageRecord>(
            "SELECT * FROM messages WHERE reply_to = @messageId AND sender = 'ai'", new { messageId });
    }
}
