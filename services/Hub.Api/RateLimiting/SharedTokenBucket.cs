using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Threading.RateLimiting;
using RedisRateLimiting;
using StackExchange.Redis;
using StackExchange.Redis.KeyspaceIsolation;

namespace Hub.Api.RateLimiting;

/// <summary>
/// One key's token bucket in Redis, shared by every API process: RedisRateLimiting's
/// <see cref="RedisTokenBucketRateLimiter{TKey}"/> (its Lua script refills and takes in one step), held to
/// two promises the library does not keep by itself:
/// <list type="bullet">
/// <item>No thread waits on Redis. The library's <c>AttemptAcquire</c> runs the script with a synchronous
/// <c>ScriptEvaluate</c>, and ASP.NET Core's middleware calls <c>AttemptAcquire</c> first on every request: a
/// blocked thread-pool thread per request, under load starvation and Redis timeouts. So <see cref="AttemptAcquireCore"/>
/// never asks Redis (it answers "not yet"), and the middleware then awaits <see cref="AcquireAsyncCore"/>,
/// which asks with <c>ScriptEvaluateAsync</c>.</item>
/// <item>A limiter outage is not an API outage. The library lets Redis errors through (the request would be a
/// 500), and while Redis is away StackExchange.Redis queues commands until its timeout (5 s per request);
/// here a disconnected Redis, an error or no answer within <see cref="MaxWait"/> lets the request pass, with a
/// warning at most every 30 s.</item>
/// </list>
/// It also reports how long it has been idle (the library says <c>TimeSpan.Zero</c> always, and the old
/// hand-written bucket said null: never evicted), so the framework's partitioned limiter disposes the
/// partitions nobody used for 10 s instead of keeping one per anonymous address forever.
/// </summary>
public sealed class SharedTokenBucket : RateLimiter
{
    /// <summary>The longest a request waits for its bucket before it is let through unchecked.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(1);

    private static long s_lastWarning = long.MinValue;
    private readonly IConnectionMultiplexer _connection;
    private readonly Lazy<RedisTokenBucketRateLimiter<string>> _redis;
    private readonly ILogger _logger;
    private readonly TimeProvider _clock;
    private long _lastUsed;
    private int _disposed;

    public SharedTokenBucket(string key, IConnectionMultiplexer redis, RedisKey keyPrefix, int perSecond, int burst,
        ILogger logger, TimeProvider clock)
    {
        _connection = redis;
        _logger = logger;
        _clock = clock;
        _lastUsed = clock.GetTimestamp();
        // Built on first use: AttemptAcquire and eviction never need it.
        _redis = new(() => new RedisTokenBucketRateLimiter<string>(key, new RedisTokenBucketRateLimiterOptions
        {
            ConnectionMultiplexerFactory = () => KeyPrefixedMultiplexer.Create(redis, keyPrefix),
            TokenLimit = burst,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        }));
    }

    public override TimeSpan? IdleDuration => _clock.GetElapsedTime(Volatile.Read(ref _lastUsed));

    /// <summary>Token bucket leases hold nothing, so there is nothing to count here.</summary>
    public override RateLimiterStatistics? GetStatistics() => null;

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return Lease.NotYetAsked;
    }

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        Volatile.Write(ref _lastUsed, _clock.GetTimestamp());
        if (!_connection.IsConnected) return Unchecked(null);
        try
        {
            using var lease = await _redis.Value.AcquireAsync(permitCount, cancellationToken).AsTask().WaitAsync(MaxWait, cancellationToken);
            if (lease.IsAcquired) return Lease.Granted;
            return new Lease(false, lease.TryGetMetadata(RateLimitMetadataName.RetryAfter, out var seconds) ? TimeSpan.FromSeconds(Math.Max(1, seconds)) : null);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return Unchecked(e);
        }
    }

    private Lease Unchecked(Exception? error)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref s_lastWarning);
        if (now - last > 30_000 && Interlocked.CompareExchange(ref s_lastWarning, now, last) == last)
            _logger.LogWarning(error, "Rate limits not checked: Redis is not connected or did not answer; requests pass meanwhile");
        return Lease.Granted;
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _redis.IsValueCreated) _redis.Value.Dispose();
        base.Dispose(disposing);
    }

    private sealed class Lease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public static readonly Lease Granted = new(true, null);
        public static readonly Lease NotYetAsked = new(false, null);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = metadataName == MetadataName.RetryAfter.Name ? retryAfter : null;
            return metadata is not null;
        }
    }
}

/// <summary>
/// The multiplexer as the library sees it: every database it asks for puts <c>HUB_REDIS_PREFIX</c> before its
/// keys (<see cref="DatabaseExtensions.WithKeyPrefix"/>, which also prefixes the keys a <see cref="LuaScript"/>
/// is given). The library names its keys itself (<c>rl:tb:{key}</c>) and has no prefix option.
/// </summary>
public class KeyPrefixedMultiplexer : DispatchProxy
{
    private IConnectionMultiplexer _inner = null!;
    private RedisKey _prefix;

    public static IConnectionMultiplexer Create(IConnectionMultiplexer inner, RedisKey prefix)
    {
        var proxy = Create<IConnectionMultiplexer, KeyPrefixedMultiplexer>();
        var self = (KeyPrefixedMultiplexer)(object)proxy;
        (self._inner, self._prefix) = (inner, prefix);
        return proxy;
    }

    protected override object? Invoke(MethodInfo? method, object?[]? args)
    {
        try
        {
            var result = method!.Invoke(_inner, args);
            return method.Name == nameof(IConnectionMultiplexer.GetDatabase) ? ((IDatabase)result!).WithKeyPrefix(_prefix) : result;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}
