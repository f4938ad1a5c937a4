using System.Text.Json;
using Hub.Contracts;
using Hub.Core.Hosting;
using Hub.Core.Redis;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hub.Core.Replies;

/// <summary>
/// How reply events (chunks, end, failure, handoff) travel from the AI worker back to the API process
/// holding the caller's connection. With Redis: published on the caller's process channel
/// (<see cref="ProduceReply.ReplyAddress"/>), or on the shared channel when the command came from the
/// re-driver and nobody's address is known. Without Redis: published on the bus, where every API process
/// has its own temporary queue.
/// </summary>
public interface IReplyRoute
{
    Task SendAsync(IPublishEndpoint bus, string? replyAddress, object replyEvent, CancellationToken ct);
}

public static class ReplyRouting
{
    /// <summary>
    /// The one place that picks the route, from <see cref="HubOptions.UsesRedis"/>: the worker's
    /// <see cref="IReplyRoute"/> here, and the API's listener (a Redis subscription or a bus queue) from
    /// <see cref="ViaRedis"/>. Processes that share a bus must share <c>HUB_REDIS</c> too (README).
    /// </summary>
    public static bool ViaRedis(HubOptions options) => options.UsesRedis;

    public static IServiceCollection AddReplyRoute(this IServiceCollection services, HubOptions options)
    {
        if (ViaRedis(options)) services.AddSingleton<IReplyRoute, RedisReplyRoute>();
        else services.AddSingleton<IReplyRoute, BusReplyRoute>();
        return services;
    }
}

public sealed class BusReplyRoute : IReplyRoute
{
    public Task SendAsync(IPublishEndpoint bus, string? replyAddress, object replyEvent, CancellationToken ct) =>
        bus.Publish(replyEvent, replyEvent.GetType(), ct);
}

public sealed class RedisReplyRoute(IConnectionMultiplexer redis, RedisNames names) : IReplyRoute
{
    public async Task SendAsync(IPublishEndpoint bus, string? replyAddress, object replyEvent, CancellationToken ct)
    {
        var envelope = JsonSerializer.Serialize(new ReplyEnvelope(KindOf(replyEvent), JsonSerializer.SerializeToElement(replyEvent, replyEvent.GetType(), HubJson.Options)), HubJson.Options);
        await redis.GetSubscriber().PublishAsync(replyAddress is null ? names.SharedReplyChannel : names.ReplyChannel(replyAddress), envelope);
    }

    private static string KindOf(object replyEvent) => replyEvent switch
    {
        ReplyDeltaProduced => "delta",
        ReplyProduced => "produced",
        ReplyFailed => "failed",
        ReplySkipped => "skipped",
        _ => throw new ArgumentException($"{replyEvent.GetType().Name} is not a reply event."),
    };

    /// <summary>Reads an envelope back into its contract type.</summary>
    public static object? Read(string json)
    {
        var envelope = JsonSerializer.Deserialize<ReplyEnvelope>(json, HubJson.Options);
        if (envelope is null) return null;
        return envelope.Kind switch
        {
            "delta" => envelope.Event.Deserialize<ReplyDeltaProduced>(HubJson.Options),
            "produced" => envelope.Event.Deserialize<ReplyProduced>(HubJson.Options),
            "failed" => envelope.Event.Deserialize<ReplyFailed>(HubJson.Options),
            "skipped" => envelope.Event.Deserialize<ReplySkipped>(HubJson.Options),
            _ => null,
        };
    }

    private sealed record ReplyEnvelope(string Kind, JsonElement Event);
}
