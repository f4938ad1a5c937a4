using Hub.Contracts;
using MassTransit;

namespace Hub.Core.Inbox;

/// <summary>
/// Tells every API process (and so every connected inbox) that something changed. Called after commit by
/// whichever role made the change; a lost signal only leaves an inbox stale until its next refresh.
/// </summary>
public static class InboxSignals
{
    public static Task ConversationChangedAsync(IPublishEndpoint bus, string conversationId, string botId, CancellationToken ct = default) =>
        Try(() => bus.Publish(new ConversationChanged(conversationId, botId), ct));

    public static Task MessageStoredAsync(IPublishEndpoint bus, string messageId, string conversationId, string botId, CancellationToken ct = default) =>
        Try(() => bus.Publish(new MessageStored(messageId, conversationId, botId), ct));

    private static async Task Try(Func<Task> publish)
    {
        try { await publish(); }
        catch (Exception e) when (e is not OperationCanceledException) { /* inbox pushes are best effort; the store is the truth */ }
    }
}
