using System.Threading.RateLimiting;
using StackExchange.Redis;

namespace Hub.Api.RateLimiting;

/// <summary>
/// A token bucket kept in Redis, so one key's limit holds across every API process. The refill and the
/// take happen in one Lua script on Redis's own clock (no skew between processes). If Redis cannot be
/// reached the request is let through: an outage of the limiter must not become an outage of the API.
/// </summary>
public sealed class RedisTokenBucket(IConnectionMultiplexer redis, string key, int perSecond, int burst, ILogger logger) : RateLimiter
{
    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local rate = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(state[1]) or burst
        local at = tonumber(state[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
        local allowed = 0
        local wait = 0
        if tokens >= 1 then
          tokens = tokens - 1
          allowed = 1
        else
          wait = math.ceil((1 - tokens) * 1000 / rate)
        end
        redis.call('HMSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
        redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
        return { allowed, wait }
        """;

    private readonly RedisKey _key = "hub:ratelimit:" + key;

    public override TimeSpan? IdleDuration => null;

    public override RateLimiterStatistics? GetStatistics() => null;

    /// <summary>
    /// Never asks Redis: a synchronous round trip here would hold a thread-pool thread per request (under load,
    /// thread-pool starvation and Redis timeouts). ASP.NET Core's rate-limiting middleware tries this first and,
    /// when it is not granted, awaits <see cref="AcquireAsyncCore"/>, which asks Redis without blocking.
    /// </summary>
    protected override RateLimitLease AttemptAcquireCore(int permitCount) => BucketLease.NotYetAsked;

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        try
        {
            var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(Script, [_key], [perSecond, burst]))!;
            return Read(result);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning(e, "Rate limit not checked: Redis did not answer");
            return BucketLease.Granted;
        }
    }

    private static RateLimitLease Read(RedisResult[] result) =>
        (int)result[0] == 1 ? BucketLease.Granted : new BucketLease(false, TimeSpan.FromMilliseconds((long)result[1]));

    private sealed class BucketLease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public static readonly BucketLease Granted = new(true, null);
        public static readonly BucketLease NotYetAsked = new(false, null);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = metadataName == MetadataName.RetryAfter.Name ? retryAfter : null;
            return metadata is not null;
        }
    }
}
