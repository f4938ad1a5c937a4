using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hub.Core.Hosting;

public static class HubBusExtensions
{
    private const string ConfiguratorsKey = "Hub.BusConfigurators";

    /// <summary>How long a consumer waits before each retry of a transient failure: about 9 s in all.</summary>
    public static readonly TimeSpan[] MessageRetryIntervals =
        [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5)];

    /// <summary>A role adds its consumers here; <see cref="AddHubBus"/> applies them all to the one bus.</summary>
    public static IHostApplicationBuilder ConfigureHubBus(this IHostApplicationBuilder builder, Action<IBusRegistrationConfigurator> configure)
    {
        Configurators(builder).Add(configure);
        return builder;
    }

    /// <summary>
    /// MassTransit over RabbitMQ when <c>HUB_TRANSPORT=rabbitmq</c>, in-memory otherwise. The roles only
    /// ever talk through this bus, so splitting them into processes changes configuration, not code.
    /// </summary>
    /// <summary>The API's temporary reply-relay endpoint (one per API process, without Redis).</summary>
    public const string ReplyRelayEndpoint = "hub-api-replies";

    public static IHostApplicationBuilder AddHubBus(this IHostApplicationBuilder builder)
    {
        var configurators = Configurators(builder);
        var options = builder.HubOptions();
        builder.Services.AddMassTransit(x =>
        {
            x.SetKebabCaseEndpointNameFormatter();
            // MassTransit 8.5 reports usage to usage-tracking.masstransit.io a few minutes after start unless told
            // not to; a self-hosted hub makes no outbound call its README does not list.
            x.DisableUsageTelemetry();
            // A deadlock victim, a busy SQLite file or a Redis blip passes in moments: try the message again here
            // rather than leave it to a lease (a reply's is 180 s) or a redelivery. Bugs and bad input fail again
            // the same way, so only TransientErrors are retried.
            // The API's reply relay only hands an event to a waiting caller (no store, no Redis), so it has nothing
            // to retry, and it sits on every blocking and streaming reply's path: it gets no retry filter.
            x.AddConfigureEndpointsCallback((_, name, cfg) =>
            {
                if (name.StartsWith(ReplyRelayEndpoint, StringComparison.Ordinal)) return;
                cfg.UseMessageRetry(r =>
                {
                    r.Intervals(MessageRetryIntervals);
                    r.Handle<Exception>(TransientErrors.IsTransient);
                });
            });
            foreach (var configure in configurators) configure(x);

            if (options.UsesRabbitMq)
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    var hub = context.GetRequiredService<IOptions<HubOptions>>().Value;
                    cfg.Host(new Uri(hub.RabbitMq!));
                    // Back on the bus within seconds of the broker, however long it was away (see BrokerReconnect).
                    if (!BrokerReconnect.Apply(cfg))
                        context.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(BrokerReconnect))
                            .LogWarning("MassTransit's reconnect policy could not be replaced: reconnects back off up to 30 s");
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
        });
        // The in-memory bus starts in milliseconds: wait for it, so nothing published at start-up is dropped.
        // A broker may be away at start-up, and /healthz must answer meanwhile, so RabbitMQ's bus starts in the
        // background, once the broker answers (RabbitMqBusStarter says why MassTransit's own start is not used).
        if (!options.UsesRabbitMq) builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        else
        {
            builder.Services.RemoveMassTransitHostedService();
            builder.Services.AddHostedService<RabbitMqBusStarter>();
        }
        return builder;
    }

    private static List<Action<IBusRegistrationConfigurator>> Configurators(IHostApplicationBuilder builder)
    {
        if (!builder.Properties.TryGetValue(ConfiguratorsKey, out var value))
        {
            value = new List<Action<IBusRegistrationConfigurator>>();
            builder.Properties[ConfiguratorsKey] = value;
        }
        return (List<Action<IBusRegistrationConfigurator>>)value;
    }
}
