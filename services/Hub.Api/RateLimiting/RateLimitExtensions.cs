using System.Globalization;
using System.Threading.RateLimiting;
using Hub.Api.Auth;
using Hub.Api.Errors;
using Microsoft.AspNetCore.RateLimiting;

namespace Hub.Api.RateLimiting;

/// <summary>
/// Per-key token buckets (ASP.NET Core's rate limiter): <c>HUB_RATE_LIMIT_PER_SECOND</c> requests a second
/// with bursts up to <c>HUB_RATE_LIMIT_BURST</c>, e.g. <code>{ "HUB_RATE_LIMIT_PER_SECOND": 50, "HUB_RATE_LIMIT_BURST": 100 }</code>
/// With <c>HUB_REDIS</c> the buckets live in Redis and hold across API processes. Beyond that: 429 <c>rate_limited</c> with <c>Retry-After</c>.
/// </summary>
public sealed class RateLimitOptions
{
    [ConfigurationKeyName("HUB_RATE_LIMIT_PER_SECOND")] public int PerSecond { get; set; } = 50;
    [ConfigurationKeyName("HUB_RATE_LIMIT_BURST")] public int Burst { get; set; } = 100;
}

public static class HubRateLimits
{
    public const string PerKey = "per-key";

    public static IHostApplicationBuilder AddHubRateLimits(this IHostApplicationBuilder builder)
    {
        var limits = builder.Configuration.Get<RateLimitOptions>() ?? new RateLimitOptions();
        builder.Services.AddRateLimiter(o =>
        {
            var shared = Core.Redis.HubRedis.IsConfigured(builder.Configuration);
            o.AddPolicy(PerKey, http =>
            {
                var partition = http.User.RateLimitPartition() == "anonymous"
                    ? "ip:" + http.Connection.RemoteIpAddress
                    : http.User.RateLimitPartition();
                // With Redis the bucket is shared by every API process; without it each process keeps its own.
                return shared
                    ? RateLimitPartition.Get(partition, key => new RedisTokenBucket(
                        http.RequestServices.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>(), key,
                        Math.Max(1, limits.PerSecond), Math.Max(1, limits.Burst),
                        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger<RedisTokenBucket>()))
                    : RateLimitPartition.GetTokenBucketLimiter(partition, _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = Math.Max(1, limits.Burst),
                        TokensPerPeriod = Math.Max(1, limits.PerSecond),
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
            });
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
