using Dapper;
using Hub.Contracts;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Messages;
using MassTransit;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace Hub.Api.Inbox;

public sealed record TypingView(string ConversationId, string From, string AgentId, bool Active);

/// <summary>
/// Pushes a change made anywhere (an API process, the AI worker) to the agents' inboxes. One API process
/// consumes each signal (a competing consumer) and reads the row once; <see cref="IHubContext{THub}"/> then
/// sends it to the connections of every API process through the SignalR Redis backplane when
/// <c>HUB_REDIS</c> is set, or to this process's own connections without it.
/// </summary>
public sealed class InboxNotifier(IHubContext<InboxHub> hub, HubDb db, InboxPresence presence, IOptions<Hub.Core.Hosting.HubOptions> options) :
    IConsumer<ConversationChanged>, IConsumer<MessageStored>, IConsumer<AgentTyping>
{
    // With the backplane the agents may all sit on other processes: only without it does "nobody here" mean nobody.
    private bool NobodyListens => !options.Value.UsesRedis && !presence.Anyone;

    public async Task Consume(ConsumeContext<ConversationChanged> context)
    {
        if (NobodyListens) return;
        await using var c = await db.OpenAsync(context.CancellationToken);
        var conversation = await c.QuerySingleOrDefaultAsync<ConversationRecord>(
            "SELECT * FROM conversations WHERE id = @ConversationId", new { context.Message.ConversationId });
        if (conversation is null) return;
        await Audience(conversation.BotId).SendAsync("conversationUpdated", ConversationView.Of(conversation), context.CancellationToken);
    }

    public async Task Consume(ConsumeContext<MessageStored> context)
    {
        if (NobodyListens) return;
        await using var c = await db.OpenAsync(context.CancellationToken);
        var message = await c.QuerySingleOrDefaultAsync<MessageRecord>("SELECT * FROM messages WHERE id = @MessageId", new { context.Message.MessageId });
        if (message is null) return;
        await Audience(message.BotId).SendAsync("messageCreated", MessageView.Of(message), context.CancellationToken);
    }

    /// <summary>Typing now goes straight through the hub context (TypingTracker); this serves older API processes during an upgrade.</summary>
    public Task Consume(ConsumeContext<AgentTyping> context)
    {
        var t = context.Message;
        return Audience(t.BotId).SendAsync("typing", new TypingView(t.ConversationId, t.AgentName, t.AgentId, t.Active), context.CancellationToken);
    }

    private IClientProxy Audience(string botId) => Audience(hub, botId);

    /// <summary>Agents who may see <paramref name="botId"/>: the unlimited ones and those limited to it.</summary>
    public static IClientProxy Audience(IHubContext<InboxHub> hub, string botId) => hub.Clients.Groups(InboxHub.AllBots, InboxHub.BotGroup(botId));
}
