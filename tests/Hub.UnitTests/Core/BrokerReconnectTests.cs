using System.Reflection;
using Hub.Core.Hosting;
using MassTransit;
using MassTransit.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client.Exceptions;

namespace Hub.UnitTests.Core;

/// <summary>
/// The RabbitMQ bus Hub builds reconnects within seconds of the broker: its receive endpoints wait at most
/// <see cref="BrokerReconnect.MaxInterval"/> (±25 %) between connection tries, however many tries failed before,
/// and never give up. MassTransit's own policy waits up to 30 s (±25 %) and gives up after 1,000 tries. Building the
/// bus does not connect, so no broker is needed here.
/// </summary>
public class BrokerReconnectTests
{
    [Fact]
    public void A_RabbitMQ_bus_waits_at_most_about_6_s_between_connection_tries_however_many_failed()
    {
        var policy = ReconnectPolicyOfHubsBus();

        var longest = TimeSpan.FromTicks((long)(BrokerReconnect.MaxInterval.Ticks * 1.25));
        foreach (var failures in new[] { 0, 1, 2, 3, 4, 5, 10, 100, 5_000 })
        {
            // MassTransit draws the ±25 % anew on every call: ask often enough to see the upper end.
            var slowest = Enumerable.Range(0, 50).Max(_ => RetryInterval(policy, failures));
            Assert.True(slowest <= longest, $"after {failures} failed tries the next waits {slowest.TotalSeconds:0.0} s");
        }
        // The first wait is 1 s + 0.8-1.2 s, then ±25 %: under 2.75 s.
        Assert.True(Enumerable.Range(0, 50).Max(_ => RetryInterval(policy, 0)) < TimeSpan.FromSeconds(2.75), "the first retry comes within 2.75 s");
    }

    [Fact]
    public void A_RabbitMQ_bus_keeps_trying_through_any_outage_but_not_with_a_wrong_password()
    {
        var policy = ReconnectPolicyOfHubsBus();

        Assert.True(policy.IsHandled(new RabbitMqConnectionException("Broker unreachable: guest@127.0.0.1:5672/hub")));
        Assert.True(policy.IsHandled(new AlreadyClosedException(new RabbitMQ.Client.Events.ShutdownEventArgs(
            RabbitMQ.Client.ShutdownInitiator.Peer, 320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"))));
        Assert.False(policy.IsHandled(new AuthenticationFailureException("ACCESS_REFUSED")));
        // Never gives up: the limit is the largest the policy can hold (MassTransit's own is 1,000 tries for the process's life).
        var limit = policy.GetType().GetProperty("RetryLimit")?.GetValue(policy);
        Assert.Equal(int.MaxValue, limit);
    }

    /// <summary>The policy of the bus that Hub's own registration (<see cref="HubBusExtensions.AddHubBus"/>) builds.</summary>
    private static IRetryPolicy ReconnectPolicyOfHubsBus()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HUB_TRANSPORT"] = "rabbitmq",
            ["HUB_RABBITMQ"] = "amqp://guest:guest@127.0.0.1:5672/hub-unit",
            ["HUB_ROLES"] = "ai-worker",
        });
        builder.Services.AddOptions<HubOptions>().Bind(builder.Configuration);
        builder.Services.AddLogging();
        builder.AddHubBus();
        using var host = builder.Build();
        var bus = host.Services.GetRequiredService<IBusControl>();
        var transportHost = Field(bus, "_host");
        var hostConfiguration = (IHostConfiguration)Field(transportHost, "_hostConfiguration");
        return hostConfiguration.ReceiveTransportRetryPolicy;
    }

    private static TimeSpan RetryInterval(IRetryPolicy policy, int failures) =>
        (TimeSpan)policy.GetType().GetMethod("GetRetryInterval")!.Invoke(policy, [failures])!;

    private static object Field(object target, string name)
    {
        for (var type = target.GetType(); type is not null; type = type.BaseType)
            if (type.GetField(name, BindingFlags.Instance | BindingFlags.NonPublic) is { } field)
                return field.GetValue(target)!;
        throw new MissingFieldException(target.GetType().FullName, name);
    }
}
