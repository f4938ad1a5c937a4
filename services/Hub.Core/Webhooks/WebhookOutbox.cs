using System.Data.Common;
using System.Text.Json;
using Dapper;
using Hub.Contracts;
using Hub.Core.Bots;
using Hub.Core.Hosting;
using Hub.Core.Telemetry;
using MassTransit;

namespace Hub.Core.Webhooks;

/// <summary>The body of every webhook delivery: <c>{"type","timestamp","data"}</c>.</summary>
public sealed record WebhookEnvelope(string Type, DateTimeOffset Timestamp, object Data);

/// <summary>
/// The one emit point for webhook events. Called inside the transaction that makes the change (a reply
/// stored, a conversation moved), so an event exists exactly when its change does: a transactional
/// outbox. The body is serialised once, here, and is what gets signed and sent on every try.
/// </summary>
public static class WebhookOutbox
{
    public static class Types
    {
        public const string MessageReply = "message.reply";
        public const string MessageReceived = "message.received";
        public const string ConversationCreated = "conversation.created";
        public const string ConversationHandoffRequested = "conversation.handoff_requested";
        public const string ConversationAssigned = "conversation.assigned";
        public const string ConversationHandedBack = "conversation.handed_back";
        public const string ConversationClosed = "conversation.closed";
    }

    /// <summary>Records the event for the bot's endpoint if it has one and subscribes to <paramref name="type"/>; returns the delivery ID.</summary>
    public static async Task<string?> EnqueueAsync(DbConnection connection, DbTransaction transaction, string botId, string type,
        object data, long now, string? conversationId = null, string? messageId = null)
    {
        var bot = await connection.QuerySingleOrDefaultAsync<(string? WebhookUrl, string WebhookEvents)?>(
            "SELECT webhook_url, webhook_events FROM bots WHERE id = @botId", new { botId }, transaction);
        if (bot is not { WebhookUrl: not null } b) return null;
        return await InsertAsync(connection, transaction, botId, b.WebhookEvents, type, data, now, conversationId, messageId);
    }

    /// <summary>
    /// As above, with the bot as the caller already has it (from <see cref="BotCache"/> on the message path):
    /// the subscription is then decided on a row at most the cache's TTL old when another process changed it.
    /// </summary>
    public static Task<string?> EnqueueAsync(DbConnection connection, DbTransaction transaction, BotRecord bot, string type,
        object data, long now, string? conversationId = null, string? messageId = null) =>
        bot.WebhookUrl is null
            ? Task.FromResult<string?>(null)
            : InsertAsync(connection, transaction, bot.Id, bot.WebhookEvents, type, data, now, conversationId, messageId);

    private static async Task<string?> InsertAsync(DbConnection connection, DbTransaction transaction, string botId, string webhookEvents,
        string type, object data, long now, string? conversationId, string? messageId)
    {
        if (!(JsonSerializer.Deserialize<string[]>(webhookEvents) ?? []).Contains(type)) return null;

        var id = Ids.New("evt");
        var payload = JsonSerializer.Serialize(new WebhookEnvelope(type, DateTimeOffset.FromUnixTimeMilliseconds(now), data), HubJson.Options);
        await connection.ExecuteAsync(
            """
            INSERT INTO deliveries (id, bot_id, event_type, conversation_id, message_id, payload, status, attempt_count,
                next_attempt_at, created_at, updated_at, trace_parent, trace_state)
            VALUES (@id, @botId, @type, @conversationId, @messageId, @payload, 'pending', 0, @now, @now, @now, @traceParent, @traceState)
            """,
            // The trace of the change (a request, a consumed bus message): every try of this delivery joins it.
            new
            {
                id, botId, type, conversationId, messageId, payload, now,
                traceParent = HubTracing.CurrentTraceParent(), traceState = HubTracing.CurrentTraceState(),
            }, transaction);
        if (Data.SqlDialect.Of(connection).StampPosition("deliveries", "@id") is { } stamp)
            await connection.ExecuteAsync(stamp, new { id }, transaction);
        return id;
    }

    /// <summary>After commit: ask the dispatcher to try these now. A lost publish only waits for the scheduler.</summary>
    public static async Task NotifyAsync(IPublishEndpoint bus, IEnumerable<string?> deliveryIds, CancellationToken ct = default)
    {
        foreach (var id in deliveryIds)
        {
            if (id is null) continue;
            // Bounded: while the broker is away a publish would wait for it, and the caller has better things to do.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(PublishTimeout);
            try { await bus.Publish(new DeliverWebhook(id), timeout.Token); }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not OutOfMemoryException) { /* the scheduler finds it in the store */ }
        }
    }

    /// <summary>How long a best-effort publish may wait for the broker.</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(3);
}
