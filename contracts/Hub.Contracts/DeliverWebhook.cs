namespace Hub.Contracts;

/// <summary>
/// Command to the dispatcher: try the stored webhook delivery <paramref name="DeliveryId"/> now.
/// Published right after the event is committed; the dispatcher's scheduler also finds due deliveries
/// in the store, so a lost command only delays a delivery, never drops it.
/// </summary>
public sealed record DeliverWebhook(string DeliveryId);
