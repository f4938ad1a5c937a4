using Hub.Core.Replies;
using StackExchange.Redis;

namespace Hub.Api.Messages;

/// <summary>The API process's address on the reply route: callers waiting here get their replies here.</summary>
public sealed record ApiInstance(string Id);

/// <summary>
/// With <c>HUB_REDIS</c>: listens on this process's reply channel (and the shared one, for replies to
/// re-driven messages) and hands each event to the waiting caller. Subscribed before the server starts
/// taking requests, so no reply can arrive before its listener.
/// </summary>
public sealed class RedisReplySubscriber(IConnectionMultiplexer redis, ApiInstance instance, ReplyWaiters waiters,
    ILogger<RedisReplySubscriber> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var subscriber = redis.GetSubscriber();
        await subscriber.SubscribeAsync(RedisReplyRoute.ChannelFor(instance.Id), (_, value) => Deliver(value));
        await subscriber.SubscribeAsync(RedisReplyRoute.SharedChannel, (_, value) => Deliver(value));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var subscriber = redis.GetSubscriber();
        await subscriber.UnsubscribeAsync(RedisReplyRoute.ChannelFor(instance.Id));
        await subscriber.UnsubscribeAsync(RedisReplyRoute.SharedChannel);
    }

    private void Deliver(RedisValue value)
    {
        try
        {
            if (RedisReplyRoute.Read(value!) is { } replyEvent) waiters.Deliver(replyEvent);
        }
        catch (System.Text.Json.JsonException e)
        {
            logger.LogWarning(e, "Ignored a malformed reply event on Redis");
        }
    }
}
