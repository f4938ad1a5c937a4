using Dapper;
using Hub.Core.Bots;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Hub.Core.Messages;

namespace Hub.UnitTests.Store;

/// <summary>Fixture rows, inserted straight into the schema of Data/Migrations/*/0001_initial.sql.</summary>
public static class Rows
{
    public static async Task<string> BotAsync(HubDb db, params string[] knowledge)
    {
        var id = Ids.New("bot");
        await using var c = await db.OpenAsync();
        await c.ExecuteAsync(
            """
            INSERT INTO bots (id, name, knowledge, input_credits_per_1k, output_credits_per_1k, webhook_secret, created_at, updated_at)
            VALUES (@id, 'Support', @knowledge, 0.5, 1.5, 'whsec_test', 0, 0)
            """,
            new { id, knowledge = BotRecord.ToJsonList(knowledge) });
        return id;
    }

    public static async Task<string> ConversationAsync(HubDb db, string botId, string status = ConversationStatus.Bot)
    {
        var id = Ids.New("conv");
        await using var c = await db.OpenAsync();
        await c.ExecuteAsync(
            """
            INSERT INTO conversations (id, bot_id, user_id, status, last_sequence, created_at, updated_at)
            VALUES (@id, @botId, 'u-42', @status, 0, 0, 0)
            """,
            new { id, botId, status });
        if (db.Dialect.StampPosition("conversations", "@id") is { } stamp) await c.ExecuteAsync(stamp, new { id });
        return id;
    }

    /// <summary>Appends a user message at the conversation's next sequence.</summary>
    public static async Task<MessageRecord> UserMessageAsync(HubDb db, string conversationId, string content = "Where is my order?",
        string? replyState = ReplyStates.Pending, long? redriveAt = 0)
    {
        await using var c = await db.OpenAsync();
        var botId = await c.QuerySingleAsync<string>("SELECT bot_id FROM conversations WHERE id = @conversationId", new { conversationId });
        await c.ExecuteAsync("UPDATE conversations SET last_sequence = last_sequence + 1 WHERE id = @conversationId", new { conversationId });
        var sequence = await c.QuerySingleAsync<long>("SELECT last_sequence FROM conversations WHERE id = @conversationId", new { conversationId });
        var message = new MessageRecord
        {
            Id = Ids.New("msg"),
            ConversationId = conversationId,
            BotId = botId,
            Sequence = sequence,
            Sender = "user",
            Content = content,
            ResponseMode = "blocking",
            ReplyState = replyState,
            RedriveAt = redriveAt,
            CreatedAt = 0,
        };
        await c.ExecuteAsync(
            """
            INSERT INTO messages (id, conversation_id, bot_id, sequence, sender, content, response_mode, reply_state, redrive_at, created_at)
            VALUES (@Id, @ConversationId, @BotId, @Sequence, @Sender, @Content, @ResponseMode, @ReplyState, @RedriveAt, @CreatedAt)
            """, message);
        return message;
    }

    public static async Task SetStatusAsync(HubDb db, string conversationId, string status)
    {
        await using var c = await db.OpenAsync();
        await c.ExecuteAsync("UPDATE conversations SET status = @status WHERE id = @conversationId", new { conversationId, status });
    }

    public static async Task<MessageRecord> MessageAsync(HubDb db, string id)
    {
        await using var c = await db.OpenAsync();
        return await c.QuerySingleAsync<MessageRecord>("SELECT * FROM messages WHERE id = @id", new { id });
    }

    public static async Task<List<MessageRecord>> MessagesAsync(HubDb db, string conversationId)
    {
        await using var c = await db.OpenAsync();
        return (await c.QueryAsync<MessageRecord>(
            "SELECT * FROM messages WHERE conversation_id = @conversationId ORDER BY sequence", new { conversationId })).ToList();
    }
}
