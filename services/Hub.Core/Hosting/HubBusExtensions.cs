using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hub.Core.Hosting;

public static class HubBusExtensions
{
    private const string ConfiguratorsKey = "Hub.BusConfigurators";

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
    public static IHostApplicationBuilder AddHubBus(this IHostApplicationBuilder builder)
    {
        var configurators = Configurators(builder);
        var options = builder.HubOptions();
        builder.Services.AddMassTransit(x =>
        {
            x.SetKebabCaseEndpointNameFormatter();
            foreach (var configure in configurators) configure(x);

            if (options.UsesRabbitMq)
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    var hub = context.GetRequiredService<IOptions<HubOptions>>().Value;
                    cfg.Host(new Uri(hub.RabbitMq!));
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
        });
        // The in-memory bus starts in milliseconds: wait for it, so nothing published at start-up is dropped.
        // A broker may be away at start-up, and /healthz must answer meanwhile, so RabbitMQ starts in the background.
        if (!options.UsesRabbitMq) builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
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
