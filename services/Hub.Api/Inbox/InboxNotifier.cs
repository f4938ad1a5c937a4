using Dapper;
using Hub.Contracts;
using Hub.Core.Conversations;
using Hub.Core.Data;
using Hub.Core.Messages;
using MassTransit;
using Microsoft.AspNetCore.SignalR;

namespace Hub.Api.Inbox;

public sealed record TypingView(string ConversationId, string From, string AgentId, bool Active);

/// <summary>
/// Pushes changes to the inboxes connected to this API process. Every API process has its own temporary
/// queue, so a change made anywhere (another API process, the AI worker) reaches every agent: a bus
/// fan-out standing in for the SignalR Redis backplane, which the package registry does not serve.
/// </summary>
public sealed class InboxNotifier(IHubContext<InboxHub> hub, HubDb db, InboxPresence presence) :
    IConsumer<ConversationChanged>, IConsumer<MessageStored>, IConsumer<AgentTyping>
{
    public async Task Consume(ConsumeContext<ConversationChanged> context)
    {
        if (!presence.Anyone) return;
        await using var c = await db.OpenAsync(context.CancellationToken);
        var conversation = await c.QuerySingleOrDefaultAsync<ConversationRecord>(
            "SELECT * FROM conversations WHERE id = @ConversationId", new { context.Message.ConversationId });
        if (conversation is null) return;
        await Audience(conversation.BotId).SendAsync("conversationUpdated", ConversationView.Of(conversation), context.CancellationToken);
    }

    public async Task Consume(ConsumeContext<MessageStored> context)
    {
        if (!presence.Anyone) return;
        await using var c = await db.OpenAsync(context.CancellationToken);
        var message = await c.QuerySingleOrDefaultAsync<MessageRecord>("SELECT * FROM messages WHERE id = @MessageId", new { context.Message.MessageId });
        if (message is null) return;
        await Audience(message.BotId).SendAsync("messageCreated", MessageView.Of(message), context.CancellationToken);
    }

    public Task Consume(ConsumeContext<AgentTyping> context)
    {
        var t = context.Message;
        return Audience(t.BotId).SendAsync("typing", new TypingView(t.ConversationId, t.AgentName, t.AgentId, t.Active), context.CancellationToken);
    }

    private IClientProxy Audience(string botId) => hub.Clients.Groups(InboxHub.AllBots, InboxHub.BotGroup(botId));
}
