using System.Security.Claims;
using Dapper;
using Hub.Api.Auth;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Core.Inbox;
using Hub.Core.Messages;
using Hub.Core.Webhooks;
using MassTransit;

namespace Hub.Api.Inbox;

/// <summary>
/// What agents do to a conversation — claim, reply, hand back, close — for the SignalR hub and its REST
/// mirror alike. Each runs in one transaction through <see cref="ConversationTransitions"/>, then tells
/// every inbox and announces its webhook deliveries.
/// </summary>
public sealed class InboxActions(HubDb db, TimeProvider clock, IBus bus, Hub.Core.Telemetry.HubMetrics metrics)
{
    public abstract record Outcome;
    public sealed record Done(ConversationRecord Conversation, MessageRecord? Message = null) : Outcome;
    public sealed record Refused(int Status, string Code, string Detail) : Outcome;

    public const int MaxReplyCharacters = Hub.Api.Messages.MessageContent.MaxCharacters;

    private static Refused NotFound => new(404, "not_found", "The conversation was not found.");
    private static Refused Closed => new(409, "conversation_closed", "The conversation is closed.");

    /// <summary>Takes a queued conversation (or one still with the bot) for the calling agent; someone else's → 409.</summary>
    public Task<Outcome> ClaimAsync(ClaimsPrincipal agent, string conversationId) =>
        RunAsync(agent, conversationId, async (c, tx, conversation, now, deliveries) =>
        {
            var me = agent.AgentId()!;
            switch (conversation.Status)
            {
                case ConversationStatus.Closed: return Closed;
                case ConversationStatus.Human when conversation.AssignedAgentId == me: return new Done(conversation);
                case ConversationStatus.Human: return new Refused(409, "conflict", "Another agent has claimed this conversation.");
                case ConversationStatus.Bot:
                    if (await MoveAsync(c, tx, conversationId, ConversationStatus.PendingHuman, now, null, reason: "claimed by an agent") is { } queued)
                        deliveries.Add(queued.DeliveryId);
                    break;
            }
            var moved = await MoveAsync(c, tx, conversationId, ConversationStatus.Human, now, me);
            deliveries.Add(moved?.DeliveryId);
            return new Done(moved?.Conversation ?? conversation);
        });

    /// <summary>Stores the agent's reply and sends it as <c>message.reply</c> with <c>"from":"human"</c> (zero tokens).</summary>
    public async Task<Outcome> ReplyAsync(ClaimsPrincipal agent, string conversationId, string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || Hub.Api.Messages.MessageContent.IsTooLong(text))
            return new Refused(400, "validation_failed", "text must be 1 to 32,000 characters.");
        return await RunAsync(agent, conversationId, async (c, tx, conversation, now, deliveries) =>
        {
            if (conversation.Status == ConversationStatus.Closed) return Closed;
            if (conversation.Status != ConversationStatus.Human || conversation.AssignedAgentId != agent.AgentId())
                return new Refused(409, "conflict", "Claim the conversation before replying.");

            var lastUserMessage = await c.QuerySingleOrDefaultAsync<string>(
                $"SELECT id FROM messages WHERE conversation_id = @conversationId AND sender = 'user' ORDER BY sequence DESC {db.Dialect.LimitClause}",
                new { conversationId, limit = 1 }, tx);
            var message = await MessageWriter.AppendAsync(c, tx, db.Dialect, new MessageRecord
            {
                Id = Ids.New("msg"), ConversationId = conversationId, BotId = conversation.BotId,
                Sender = "human", Content = text, ReplyTo = lastUserMessage, AgentId = agent.AgentId(), CreatedAt = now,
            });
            deliveries.Add(await WebhookOutbox.EnqueueAsync(c, tx, conversation.BotId, WebhookOutbox.Types.MessageReply,
                ReplyObject.Of(message), now, conversationId, message.Id));
            var updated = await c.QuerySingleAsync<ConversationRecord>("SELECT * FROM conversations WHERE id = @conversationId", new { conversationId }, tx);
            return new Done(updated, message);
        });
    }

    /// <summary>Gives the conversation back to the bot (the agent holding it, or an admin).</summary>
    public Task<Outcome> HandBackAsync(ClaimsPrincipal agent, string conversationId) =>
        RunAsync(agent, conversationId, async (c, tx, conversation, now, deliveries) =>
        {
            if (conversation.Status == ConversationStatus.Closed) return Closed;
            if (conversation.Status == ConversationStatus.Human && conversation.AssignedAgentId != agent.AgentId() && !agent.IsAdmin())
                return new Refused(409, "conflict", "Another agent holds this conversation.");
            if (conversation.Status == ConversationStatus.Bot) return new Done(conversation);
            if (conversation.Status == ConversationStatus.PendingHuman)
                return new Refused(409, "conflict", "Claim the conversation before handing it back.");
            var moved = await MoveAsync(c, tx, conversationId, ConversationStatus.Bot, now, null);
            deliveries.Add(moved?.DeliveryId);
            return new Done(moved?.Conversation ?? conversation);
        });

    public Task<Outcome> CloseAsync(ClaimsPrincipal agent, string conversationId) =>
        RunAsync(agent, conversationId, async (c, tx, conversation, now, deliveries) =>
        {
            if (conversation.Status == ConversationStatus.Human && conversation.AssignedAgentId != agent.AgentId() && !agent.IsAdmin())
                return new Refused(409, "conflict", "Another agent holds this conversation.");
            if (conversation.Status == ConversationStatus.Closed) return new Done(conversation);
            var moved = await MoveAsync(c, tx, conversationId, ConversationStatus.Closed, now, null);
            deliveries.Add(moved?.DeliveryId);
            return new Done(moved?.Conversation ?? conversation);
        });

    private async Task<ConversationTransitions.Moved?> MoveAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx,
        string conversationId, string to, long now, string? agentId, string? reason = null) =>
        await ConversationTransitions.MoveAsync(c, tx, db.Dialect, conversationId, to, now, agentId: agentId, reason: reason) as ConversationTransitions.Moved;

    private delegate Task<Outcome> Work(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx,
        ConversationRecord conversation, long now, List<string?> deliveries);

    private async Task<Outcome> RunAsync(ClaimsPrincipal agent, string conversationId, Work work)
    {
        var deliveries = new List<string?>();
        var outcome = await db.InTransactionAsync(async (c, tx) =>
        {
            deliveries.Clear(); // a run the store rolled back and HubDb ran again leaves no delivery behind
            var conversation = await c.QuerySingleOrDefaultAsync<ConversationRecord>(
                $"SELECT * FROM {db.Dialect.LockedTable("conversations")} WHERE id = @conversationId", new { conversationId }, tx);
            if (conversation is null || !agent.MaySee(conversation.BotId)) return NotFound;
            return await work(c, tx, conversation, clock.GetUtcNow().ToUnixTimeMilliseconds(), deliveries);
        });
        if (outcome is Done done)
        {
            await WebhookOutbox.NotifyAsync(bus, deliveries);
            await InboxSignals.ConversationChangedAsync(bus, done.Conversation.Id, done.Conversation.BotId);
            if (done.Message is { } m)
            {
                if (m.Sender == "human") metrics.Reply("human", "answered");
                await InboxSignals.MessageStoredAsync(bus, m.Id, m.ConversationId, m.BotId);
            }
        }
        return outcome;
    }
}
