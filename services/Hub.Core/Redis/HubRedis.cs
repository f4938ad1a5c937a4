using Hub.Core.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Hub.Core.Redis;

/// <summary>
/// The Redis connection when <c>HUB_REDIS</c> is set (StackExchange.Redis 1.2.6, the version the registry
/// serves). Used for what must hold across API processes: reply routing to the process holding the
/// caller's connection, and rate limits. Without it, in-process equivalents and the bus are used.
/// </summary>
public static class HubRedis
{
    public static bool IsConfigured(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration["HUB_REDIS"]);

    public static IHostApplicationBuilder AddHubRedis(this IHostApplicationBuilder builder)
    {
        if (!IsConfigured(builder.Configuration)) return builder;
        var configuration = builder.Configuration["HUB_REDIS"]!;
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ =>
        {
            var options = ConfigurationOptions.Parse(configuration);
            options.AbortOnConnectFail = false; // keep trying in the background; /readyz tells whether it is up
            options.ConnectTimeout = 5000;
            options.SyncTimeout = 5000;
            return ConnectionMultiplexer.Connect(options);
        });
        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return builder;
    }
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
