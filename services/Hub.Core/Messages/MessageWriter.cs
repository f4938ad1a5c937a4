using System.Data.Common;
using Dapper;
using Hub.Core.Data;

namespace Hub.Core.Messages;

/// <summary>
/// Appends a message to its conversation inside the caller's transaction: the next <c>sequence</c> (1, 2, 3, …
/// per conversation, taken under the conversation row's write lock), the conversation's <c>updated_at</c>,
/// and the row itself. Every sender (user, AI, agent) goes through here, so sequences never collide.
/// </summary>
public static class MessageWriter
{
    /// <param name="message">Everything but <see cref="MessageRecord.Sequence"/>, which is assigned here.</param>
    public static async Task<MessageRecord> AppendAsync(DbConnection c, DbTransaction tx, SqlDialect dialect, MessageRecord message)
    {
        // One locking UPDATE reads and bumps the counter: the conversation row stays locked until commit, so the
        // next writer of this conversation gets the next number only after this one committed. Per conversation,
        // sequence order is commit order, and the messages cursor (sequence) never skips.
        var sequence = await c.QuerySingleAsync<long>(
            dialect.UpdateReturning("conversations", "last_sequence = last_sequence + 1, updated_at = @CreatedAt",
                "id = @ConversationId", "last_sequence"),
            new { message.ConversationId, message.CreatedAt }, tx);
        var stored = message.WithSequence(sequence);
        await c.ExecuteAsync(
            """
            INSERT INTO messages (id, conversation_id, bot_id, sequence, sender, content, reply_to, response_mode, reply_state,
                redrive_at, agent_id, model, prompt_tokens, completion_tokens, input_credits, output_credits, created_at, trace_parent)
            VALUES (@Id, @ConversationId, @BotId, @Sequence, @Sender, @Content, @ReplyTo, @ResponseMode, @ReplyState,
                @RedriveAt, @AgentId, @Model, @PromptTokens, @CompletionTokens, @InputCredits, @OutputCredits, @CreatedAt, @TraceParent)
            """, stored, tx);
        return stored;
    }
}
