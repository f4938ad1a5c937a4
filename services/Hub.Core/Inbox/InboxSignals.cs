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
        Try(token => bus.Publish(new ConversationChanged(conversationId, botId), token), ct);

    public static Task MessageStoredAsync(IPublishEndpoint bus, string messageId, string conversationId, string botId, CancellationToken ct = default) =>
        Try(token => bus.Publish(new MessageStored(messageId, conversationId, botId), token), ct);

    private static async Task Try(Func<CancellationToken, Task> publish, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Webhooks.WebhookOutbox.PublishTimeout);
        try { await publish(timeout.Token); }
        catch (Exception e) when (!ct.IsCancellationRequested && e is not OutOfMemoryException) { /* inbox pushes are best effort; the store is the truth */ }
    }
}
