using Hub.Core.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hub.Core.Redis;

/// <summary>
/// The Redis connection when <c>HUB_REDIS</c> is set: one multiplexer per process, shared by what must hold
/// across processes (the reply route, the inbox's SignalR backplane, rate limits, cache eviction). Every key
/// and channel starts with <c>HUB_REDIS_PREFIX</c> (<see cref="RedisNames"/>). Without Redis, in-process
/// equivalents and the bus are used, and the inbox does not scale out.
/// </summary>
public static class HubRedis
{
    public static IHostApplicationBuilder AddHubRedis(this IHostApplicationBuilder builder)
    {
        var hub = builder.HubOptions();
        if (!hub.UsesRedis)
        {
            builder.Services.AddSingleton<ICacheEvictions, LocalCacheEvictions>();
            return builder;
        }
        builder.Services.AddSingleton(new RedisNames(hub.RedisPrefix));
        builder.Services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<HubOptions>>().Value.Redis!);
            options.AbortOnConnectFail = false; // keep trying in the background; /readyz tells whether it is up
            options.ConnectTimeout = 5000;
            options.AsyncTimeout = 5000;
            options.SyncTimeout = 5000;
            options.ClientName ??= "hub";
            // Every channel of this connection, Hub's and the SignalR backplane's alike, starts with the prefix.
            options.ChannelPrefix = RedisChannel.Literal(sp.GetRequiredService<RedisNames>().Prefix);
            // Built on first use, which is a hosted service's StartAsync (the reply subscriber, cache evictions):
            // with AbortOnConnectFail=false this returns at once and connects in the background.
            return ConnectionMultiplexer.Connect(options);
        });
        builder.Services.AddSingleton<RedisCacheEvictions>();
        builder.Services.AddSingleton<ICacheEvictions>(sp => sp.GetRequiredService<RedisCacheEvictions>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RedisCacheEvictions>());
        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return builder;
    }
}

/// <summary>
/// Every Redis key and channel name Hub uses, behind <c>HUB_REDIS_PREFIX</c> (default <c>hub:</c>), so
/// several Hubs (or other applications) can share one Redis without reading each other's state. Channels get
/// the prefix from the connection itself (<see cref="ConfigurationOptions.ChannelPrefix"/>), which also covers
/// the SignalR backplane's own channel names; keys get it here.
/// </summary>
public sealed record RedisNames(string Prefix)
{
    /// <summary>Where the AI worker publishes reply events for one API process (<c>{prefix}replies:{address}</c> on the wire).</summary>
    public RedisChannel ReplyChannel(string address) => RedisChannel.Literal($"replies:{address}");

    /// <summary>Replies to re-driven messages, whose waiting process is not known: every API process listens.</summary>
    public RedisChannel SharedReplyChannel => RedisChannel.Literal("replies");

    /// <summary>"This cached row changed": every process drops its copy.</summary>
    public RedisChannel CacheEvictionChannel => RedisChannel.Literal("cache:evict");

    /// <summary>Rate-limit buckets: the library names its keys itself (<c>rl:tb:{…}</c>), so its database view is prefixed.</summary>
    public RedisKey RateLimitKeyPrefix => $"{Prefix}ratelimit:";
}

internal sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"redis answers in {latency.TotalMilliseconds:0.#} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"redis does not answer: {e.Message}");
        }
    }
}
