using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hub.Core.Redis;

/// <summary>
/// Tells the other processes that a cached row changed, so they drop their copy at once instead of when it
/// expires (<c>HUB_CACHE_SECONDS</c>). Without Redis there is nobody to tell, and the TTL is the bound.
/// </summary>
public interface ICacheEvictions
{
    /// <summary>Runs <paramref name="evict"/> (with the key, or null for "all") when another process announces a change.</summary>
    void Subscribe(string cache, Action<string?> evict);

    /// <summary>After this process evicted <paramref name="key"/> (null: everything) from <paramref name="cache"/>.</summary>
    void Announce(string cache, string? key);
}

public sealed class LocalCacheEvictions : ICacheEvictions
{
    public void Subscribe(string cache, Action<string?> evict) { }
    public void Announce(string cache, string? key) { }
}

/// <summary>
/// Evictions over Redis pub/sub (<c>{prefix}cache:evict</c>, payload <c>cache\nkey</c>). Why not HybridCache:
/// its L1 is per process and, in 10.x, <c>RemoveAsync</c>/<c>RemoveByTagAsync</c> do not reach other processes'
/// L1 (README, "Cached keys and bots"). A lost message (Redis away) leaves the TTL as the bound, as before.
/// </summary>
public sealed class RedisCacheEvictions(IConnectionMultiplexer redis, RedisNames names, ILogger<RedisCacheEvictions> logger)
    : ICacheEvictions, IHostedService
{
    private readonly ConcurrentDictionary<string, Action<string?>> _caches = new();

    public void Subscribe(string cache, Action<string?> evict) => _caches[cache] = evict;

    public void Announce(string cache, string? key)
    {
        // Fire and forget: the caller's change is committed and evicted here already; the request does not wait on Redis.
        _ = Publish($"{cache}\n{key}");
    }

    private async Task Publish(string message)
    {
        try { await redis.GetSubscriber().PublishAsync(names.CacheEvictionChannel, message); }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning(e, "Cache eviction not announced; other processes keep their copy until it expires");
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var queue = await redis.GetSubscriber().SubscribeAsync(names.CacheEvictionChannel);
        queue.OnMessage(message => Evict(message.Message));
    }

    public Task StopAsync(CancellationToken cancellationToken) =>
        redis.GetSubscriber().UnsubscribeAsync(names.CacheEvictionChannel);

    private void Evict(RedisValue message)
    {
        var text = (string?)message;
        var split = text?.IndexOf('\n') ?? -1;
        if (split < 0) return;
        var key = text![(split + 1)..];
        if (_caches.TryGetValue(text[..split], out var evict)) evict(key.Length == 0 ? null : key);
    }
}
