using Hub.IntegrationTests.Infrastructure;

namespace Hub.IntegrationTests;

/// <summary>
/// Two API processes, an AI worker and a dispatcher, scaled out on RabbitMQ and one SQLite file: with Redis (replies
/// routed to the caller's process over pub/sub) or without (replies fanned out on the bus to every API process).
/// </summary>
public abstract class ReplyClusterFixture(bool redis) : IAsyncLifetime
{
    public bool UsesRedis { get; } = redis;
    public HubCluster Cluster { get; private set; } = null!;
    public HubProcess ApiA { get; private set; } = null!;
    public HubProcess ApiB { get; private set; } = null!;
    public HubProcess Worker { get; private set; } = null!;
    public HubProcess Dispatcher { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await HubCluster.CreateAsync(UsesRedis);
        try
        {
            var processes = await Cluster.StartAllAsync(("api-a", "api"), ("api-b", "api"), ("worker", "ai-worker"), ("dispatcher", "dispatcher"));
            (ApiA, ApiB, Worker, Dispatcher) = (processes[0], processes[1], processes[2], processes[3]);
        }
        catch
        {
            // One did not start: end the others now rather than trust that a fixture whose start failed is disposed.
            await Cluster.DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null) await Cluster.DisposeAsync();
    }
}

public sealed class RedisClusterFixture() : ReplyClusterFixture(redis: true);

public sealed class BusClusterFixture() : ReplyClusterFixture(redis: false);

/// <summary>The Redis-routed cluster is shared by the reply tests and the inbox tests (fewer processes to start).</summary>
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis cluster";
}
