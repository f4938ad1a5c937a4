using Hub.Contracts;
using MassTransit;

namespace Hub.Dispatcher.Delivery;

/// <summary>The fast path: a delivery is tried as soon as its event is committed.</summary>
public sealed class DeliverWebhookConsumer(DeliveryStore store, DeliveryProcessor processor) : IConsumer<DeliverWebhook>
{
    public async Task Consume(ConsumeContext<DeliverWebhook> context)
    {
        // A saturated endpoint's delivery is left in the store for the scheduler: claiming it only to hand it
        // back would cost two writes for nothing.
        if (await store.BotOfAsync(context.Message.DeliveryId, context.CancellationToken) is not { } botId
            || processor.IsSaturated(botId)) return;
        var work = await store.ClaimAsync(context.Message.DeliveryId, processor.ClaimFor, context.CancellationToken);
        // Once claimed, the try belongs to the store, not to this bus message: MassTransit cancels the consume when
        // the broker connection drops, and a POST cut off that way may already have reached the receiver, yet no
        // attempt would be recorded and the delivery would go out again when the claim runs out. The try is bounded
        // by its own timeout.
        if (work is not null) await processor.ProcessAsync(work, CancellationToken.None);
    }
}
