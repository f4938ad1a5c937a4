using Hub.Contracts;
using MassTransit;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// The fast path: an event was committed, so the scheduler looks now rather than at its next poll. Many
/// events arriving together are claimed together, in one transaction.
/// </summary>
public sealed class DeliverWebhookConsumer(DueSignal signal) : IConsumer<DeliverWebhook>
{
    public Task Consume(ConsumeContext<DeliverWebhook> context)
    {
        signal.Notify();
        return Task.CompletedTask;
    }
}
