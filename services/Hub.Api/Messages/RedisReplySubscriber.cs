using Hub.Core.Redis;
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
public sealed class RedisReplySubscriber(IConnectionMultiplexer redis, RedisNames names, ApiInstance instance, ReplyWaiters waiters,
    ILogger<RedisReplySubscriber> logger) : IHostedService
{
    private readonly List<ChannelMessageQueue> _queues = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Message queues, not handler callbacks: a queue hands messages over one at a time, in the order
        // published, so a reply's chunks mostly arrive in order (ReplyWaiters reorders whatever does not).
        var subscriber = redis.GetSubscriber();
        foreach (var channel in new[] { names.ReplyChannel(instance.Id), names.SharedReplyChannel })
        {
            var queue = await subscriber.SubscribeAsync(channel);
            queue.OnMessage(message => Deliver(message.Message));
            _queues.Add(queue);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var queue in _queues) await queue.UnsubscribeAsync();
        _queues.Clear();
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
