using Hub.Contracts;
using MassTransit;

namespace Hub.Dispatcher.Delivery;

/// <summary>The fast path: a delivery is tried as soon as its event is committed.</summary>
public sealed class DeliverWebhookConsumer(DeliveryStore store, DeliveryProcessor processor) : IConsumer<DeliverWebhook>
{
    public async Task Consume(ConsumeContext<DeliverWebhook> context)
    {
        var work = await store.ClaimAsync(context.Message.DeliveryId, processor.ClaimFor, context.CancellationToken);
        if (work is not null) await processor.ProcessAsync(work, context.CancellationToken);
    }
}
