using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Hub.Api.Auth;
using Hub.Api.Errors;
using Hub.Core.Hosting;
using Hub.Core.Redis;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hub.Api.RateLimiting;

/// <summary>
/// Per-key token buckets (ASP.NET Core's rate limiter): <c>HUB_RATE_LIMIT_PER_SECOND</c> requests a second
/// with bursts up to <c>HUB_RATE_LIMIT_BURST</c>, e.g. <code>{ "HUB_RATE_LIMIT_PER_SECOND": 50, "HUB_RATE_LIMIT_BURST": 100 }</code>
/// With <c>HUB_REDIS</c> the buckets live in Redis and hold across API processes. Beyond that: 429 <c>rate_limited</c> with <c>Retry-After</c>.
/// </summary>
public sealed class RateLimitOptions
{
    [ConfigurationKeyName("HUB_RATE_LIMIT_PER_SECOND")]
    [Range(1, 1_000_000, ErrorMessage = "HUB_RATE_LIMIT_PER_SECOND must be a whole number from 1 to 1000000.")]
    public int PerSecond { get; set; } = 50;

    [ConfigurationKeyName("HUB_RATE_LIMIT_BURST")]
    [Range(1, 1_000_000, ErrorMessage = "HUB_RATE_LIMIT_BURST must be a whole number from 1 to 1000000.")]
    public int Burst { get; set; } = 100;
}

public static class HubRateLimits
{
    public const string PerKey = "per-key";

    public static IHostApplicationBuilder AddHubRateLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddRateLimiter(o =>
        {
            o.AddPolicy<string, PerKeyPolicy>(PerKey);
            o.OnRejected = async (context, ct) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after)
                    ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                await HubProblem.Of(429, "rate_limited", $"Too many requests for this key; retry after {retryAfter} s.")
                    .ExecuteAsync(context.HttpContext);
            };
        });
        return builder;
    }
}

/// <summary>
/// One bucket per key (per address for anonymous callers). With Redis the bucket is shared by every API process
/// (<see cref="SharedTokenBucket"/>); without it each process keeps its own. Both kinds report when they are idle,
/// so the framework disposes a partition 10 s after its last use: anonymous addresses do not pile up.
/// </summary>
public sealed class PerKeyPolicy(IOptions<RateLimitOptions> limits, IOptions<HubOptions> hub, IServiceProvider services,
    TimeProvider clock, ILogger<SharedTokenBucket> logger) : IRateLimiterPolicy<string>
{
    private readonly RateLimitOptions _limits = limits.Value;
    private readonly bool _shared = hub.Value.UsesRedis;

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => null; // the limiter's OnRejected answers

    public RateLimitPartition<string> GetPartition(HttpContext http)
    {
        var partition = http.User.RateLimitPartition();
        if (partition == "anonymous") partition = "ip:" + http.Connection.RemoteIpAddress;
        return _shared
            ? RateLimitPartition.Get(partition, key => new SharedTokenBucket(key,
                services.GetRequiredService<IConnectionMultiplexer>(), services.GetRequiredService<RedisNames>().RateLimitKeyPrefix,
                _limits.PerSecond, _limits.Burst, logger, clock))
            // A full bucket reports itself idle (TokenBucketRateLimiter.IdleDuration), so it is evicted too.
            : RateLimitPartition.GetTokenBucketLimiter(partition, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = _limits.Burst,
                TokensPerPeriod = _limits.PerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
    }
}
