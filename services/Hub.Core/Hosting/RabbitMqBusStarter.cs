using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Hub.Core.Hosting;

/// <summary>
/// Starts the RabbitMQ bus in place of MassTransit's hosted service, once the broker answers.
/// <para>
/// A process whose bus started while the broker was shutting down (the fault run's worker-3, started a moment
/// before <c>rabbitmqctl stop_app</c>) could stay "Not ready: not started" for good: MassTransit's first
/// connection attempt never completed, logged nothing, and the bus could be neither stopped ("Not Started") nor
/// started again. So the bus starts only after a connection of Hub's own to the same broker, bounded by a
/// timeout, has opened; until then that probe is retried every second, and <c>/healthz</c> and the API keep
/// answering (a broker may be away at start-up). Once started, the transport's own reconnects take over
/// (<see cref="BrokerReconnect"/>).
/// </para>
/// <para>
/// Should the bus still stay unconnected for <see cref="Patience"/> while the broker answers, the process
/// cannot recover by itself: it says so and stops with exit code 1, for its supervisor (docker compose's
/// <c>restart</c>, systemd, Kubernetes) to start it again, rather than live on without a bus.
/// </para>
/// </summary>
internal sealed class RabbitMqBusStarter(IBusControl bus, IOptions<HubOptions> options, IHostApplicationLifetime lifetime,
    ILogger<RabbitMqBusStarter> logger) : BackgroundService
{
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private bool _started;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var waitingSince = DateTimeOffset.UtcNow;
        while (!await BrokerAnswersAsync(stoppingToken))
        {
            if (DateTimeOffset.UtcNow - waitingSince > TimeSpan.FromSeconds(10))
            {
                logger.LogWarning("RabbitMQ does not answer yet; the bus starts once it does");
                waitingSince = DateTimeOffset.UtcNow;
            }
            await Task.Delay(Period, stoppingToken);
        }

        _started = true;
        var start = bus.StartAsync(stoppingToken);
        _ = start.ContinueWith(t => logger.LogError(t.Exception, "The bus did not start"),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

        // Last resort: a bus that stays unconnected although the broker answers will not come back by itself.
        var stuckSince = (DateTimeOffset?)null;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var health = bus.CheckHealth();
            if (health.Status != BusHealthStatus.Unhealthy || !await BrokerAnswersAsync(stoppingToken))
            {
                stuckSince = null;
                continue;
            }
            stuckSince ??= DateTimeOffset.UtcNow;
            if (DateTimeOffset.UtcNow - stuckSince < Patience) continue;
            logger.LogCritical("The bus is still not connected ({Description}) {Seconds:0} s after RabbitMQ answered: stopping with exit code 1 to be started again",
                health.Description, (DateTimeOffset.UtcNow - stuckSince.Value).TotalSeconds);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
            return;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_started) await bus.StopAsync(cancellationToken);
    }

    private async Task<bool> BrokerAnswersAsync(CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            var factory = new ConnectionFactory
            {
                Uri = new Uri(options.Value.RabbitMq!),
                RequestedConnectionTimeout = ProbeTimeout,
                HandshakeContinuationTimeout = ProbeTimeout,
                AutomaticRecoveryEnabled = false,
            };
            await using var connection = await factory.CreateConnectionAsync("hub-bus-probe", timeout.Token);
            await connection.CloseAsync(timeout.Token);
            return true;
        }
        catch (Exception) when (!stoppingToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
