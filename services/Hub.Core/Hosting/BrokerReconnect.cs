using System.Reflection;
using MassTransit;
using MassTransit.RabbitMqTransport;
using RabbitMQ.Client.Exceptions;

namespace Hub.Core.Hosting;

/// <summary>
/// How soon a Hub process (re)connects to RabbitMQ after the broker was away.
/// <para>
/// MassTransit 8.5's RabbitMQ transport retries a refused or lost connection on every receive endpoint with an
/// exponential back-off of about 6, 9, 15, 27 and then 30 s (each ±25 %, plus 1 s), and the count is never
/// reset while the process lives: every outage continues the series where the previous one left it, and after
/// 1,000 failed tries an endpoint gives up for good. The bus only counts as started once every endpoint is
/// connected, so a process that first tried while the broker was restarting reported "Not ready: not started"
/// for a minute or more after the broker was back (the fault run's <c>worker-3 was not ready within 90 s</c>).
/// </para>
/// <para>
/// The transport offers no setting for this policy, so <see cref="Apply"/> replaces it on the host configuration
/// (a private field of MassTransit's configurator; pinned at 8.5.12, and a unit test fails should an upgrade move
/// it). The replacement handles exactly the exceptions MassTransit's own policy handles, waits 2, 3 and then at
/// most 5 s (±25 %), and never gives up: a process is back on the bus within about 7 s of the broker.
/// </para>
/// </summary>
public static class BrokerReconnect
{
    /// <summary>The longest wait between two connection tries, before MassTransit's ±25 % jitter.</summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(5);

    private const string HostConfigurationField = "_hostConfiguration";
    private const string PolicyField = "<ReceiveTransportRetryPolicy>k__BackingField";

    /// <summary>The policy every receive endpoint (and, through it, every send) uses between connection tries.</summary>
    public static IRetryPolicy Policy { get; } = Retry.CreatePolicy(x =>
    {
        // The same exceptions as MassTransit's RabbitMqHostConfiguration: a broker that is away or going away.
        x.Handle<ConnectionException>();
        x.Handle<AlreadyClosedException>();
        x.Handle<EndOfStreamException>();
        x.Handle<OperationInterruptedException>(e => e.ChannelShouldBeClosed());
        x.Handle<NotSupportedException>(e => e.Message.Contains("Pipelining of requests forbidden", StringComparison.Ordinal));
        x.Ignore<AuthenticationFailureException>();
        x.Exponential(int.MaxValue, TimeSpan.FromSeconds(1), MaxInterval, TimeSpan.FromSeconds(1));
    });

    /// <summary>Puts <see cref="Policy"/> on the bus being configured; false when MassTransit's internals moved.</summary>
    public static bool Apply(IRabbitMqBusFactoryConfigurator configurator)
    {
        var hostConfiguration = configurator.GetType()
            .GetField(HostConfigurationField, BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(configurator);
        var policy = hostConfiguration?.GetType().GetField(PolicyField, BindingFlags.Instance | BindingFlags.NonPublic);
        if (policy is null || policy.FieldType != typeof(IRetryPolicy)) return false;
        policy.SetValue(hostConfiguration, Policy);
        return true;
    }

    /// <summary>The policy the bus being configured will use (for the test that guards <see cref="Apply"/>).</summary>
    public static IRetryPolicy? Current(IRabbitMqBusFactoryConfigurator configurator) =>
        (configurator.GetType().GetField(HostConfigurationField, BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(configurator)
            as MassTransit.Configuration.IHostConfiguration)?.ReceiveTransportRetryPolicy;
}
