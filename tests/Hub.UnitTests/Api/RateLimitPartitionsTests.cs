using System.Net;
using System.Reflection;
using System.Threading.RateLimiting;
using Hub.Api.RateLimiting;
using Hub.Core.Hosting;
using Hub.Core.Redis;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hub.UnitTests.Api;

public class RateLimitPartitionsTests
{
    [Fact]
    public void Asking_for_a_permit_first_never_touches_redis()
    {
        var redis = FakeRedis.Create(connected: true);
        using var bucket = SharedBucket(redis);

        using var lease = bucket.AttemptAcquire();

        // Not granted yet (the middleware then awaits AcquireAsync), and Redis was not asked: no thread blocked on it.
        Assert.False(lease.IsAcquired);
        Assert.Empty(FakeRedis.Calls(redis));
    }

    [Fact]
    public async Task A_request_passes_at_once_when_redis_is_away()
    {
        var redis = FakeRedis.Create(connected: false);
        using var bucket = SharedBucket(redis);

        var started = TimeProvider.System.GetTimestamp();
        using var lease = await bucket.AcquireAsync();

        Assert.True(lease.IsAcquired, "a limiter outage must not become an API outage");
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(1), "and the request does not wait for Redis's timeout");
        Assert.Equal(["get_IsConnected"], FakeRedis.Calls(redis));
    }

    [Fact]
    public async Task A_shared_bucket_reports_how_long_it_has_been_idle()
    {
        using var bucket = SharedBucket(FakeRedis.Create(connected: false));
        await Task.Delay(50);
        var idle = bucket.IdleDuration;

        Assert.NotNull(idle); // null (the old hand-written bucket) means "never evict"
        Assert.True(idle >= TimeSpan.FromMilliseconds(40), $"idle for {idle}");
        using (await bucket.AcquireAsync()) { }
        Assert.True(bucket.IdleDuration < idle, "a use starts the idle time again");
    }

    /// <summary>
    /// The framework's partitioned limiter disposes a partition idle for more than 10 s (its fixed limit), looked at
    /// every 100 ms: so this test takes about 11 s. Both kinds of bucket, one partition per anonymous address.
    /// </summary>
    [Fact]
    public async Task Idle_partitions_are_disposed_so_anonymous_addresses_do_not_pile_up()
    {
        var created = new List<RateLimiter>();
        PartitionedRateLimiter<HttpContext> Partitioned(PerKeyPolicy policy) => PartitionedRateLimiter.Create<HttpContext, string>(http =>
        {
            var partition = policy.GetPartition(http);
            return RateLimitPartition.Get(partition.PartitionKey, key =>
            {
                var limiter = partition.Factory(key);
                lock (created) created.Add(limiter);
                return limiter;
            });
        });
        using var shared = Partitioned(Policy(redis: true));
        using var local = Partitioned(Policy(redis: false));

        for (var i = 0; i < 200; i++)
        {
            var caller = new DefaultHttpContext();
            caller.Connection.RemoteIpAddress = new IPAddress([10, 0, (byte)(i / 256), (byte)(i % 256)]);
            using (shared.AttemptAcquire(caller)) { }
            using (local.AttemptAcquire(caller)) { }
        }
        Assert.Equal(400, created.Count);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (created.Any(Alive) && DateTime.UtcNow < deadline) await Task.Delay(250);
        Assert.DoesNotContain(created, Alive);
    }

    private static bool Alive(RateLimiter limiter)
    {
        try { using var _ = limiter.AttemptAcquire(0); return true; }
        catch (ObjectDisposedException) { return false; }
    }

    private static SharedTokenBucket SharedBucket(IConnectionMultiplexer redis) =>
        new("per-key:k1", redis, "hub:ratelimit:", perSecond: 1, burst: 2, NullLogger.Instance, TimeProvider.System);

    private static PerKeyPolicy Policy(bool redis)
    {
        var services = new ServiceCollection()
            .AddSingleton(FakeRedis.Create(connected: false))
            .AddSingleton(new RedisNames("hub:"))
            .BuildServiceProvider();
        return new PerKeyPolicy(Options.Create(new RateLimitOptions { PerSecond = 1, Burst = 2 }),
            Options.Create(new HubOptions { Redis = redis ? "localhost:6379" : null }), services, TimeProvider.System,
            NullLogger<SharedTokenBucket>.Instance);
    }

    /// <summary>A multiplexer that records what was asked of it and answers only IsConnected.</summary>
    public class FakeRedis : DispatchProxy
    {
        private readonly List<string> _calls = [];
        private bool _connected;

        public static IConnectionMultiplexer Create(bool connected)
        {
            var proxy = Create<IConnectionMultiplexer, FakeRedis>();
            ((FakeRedis)(object)proxy)._connected = connected;
            return proxy;
        }

        public static List<string> Calls(IConnectionMultiplexer redis) { var fake = (FakeRedis)(object)redis; lock (fake._calls) return [.. fake._calls]; }

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            lock (_calls) _calls.Add(method!.Name);
            return method.Name switch
            {
                "get_IsConnected" => _connected,
                "Dispose" => null,
                _ => throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "fake: not connected"),
            };
        }
    }
}
