using Hub.Core.Hosting;
using Hub.Dispatcher.Delivery;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hub.Dispatcher;

public static class DispatcherExtensions
{
    /// <summary>The <c>dispatcher</c> role: signed webhook delivery with durable, scheduled retries.</summary>
    public static IHostApplicationBuilder AddDispatcher(this IHostApplicationBuilder builder)
    {
        if (!builder.HasRole(HubRoles.Dispatcher)) return builder;

        builder.Services.AddOptions<DispatcherOptions>().Bind(builder.Configuration)
            .Validate(o => TryParse(o.RetrySchedule), "HUB_WEBHOOK_RETRY_SCHEDULE must look like 5s,5m,30m,2h,5h,10h,10h.")
            .Validate(o => o.TimeoutSeconds > 0 && o.EndpointConcurrency > 0 && o.Concurrency > 0, "Webhook timeouts and concurrency must be positive.")
            .ValidateOnStart();
        builder.Services.AddSingleton<WebhookSender>();
        builder.Services.AddSingleton<DeliveryStore>();
        builder.Services.AddSingleton<DeliveryProcessor>();
        builder.Services.AddSingleton<AttemptRecorder>();
        builder.Services.AddSingleton<DueSignal>();
        builder.Services.AddHostedService<DeliveryScheduler>();
        builder.Services.AddHostedService<PendingDeliveriesGauge>();

        builder.ConfigureHubBus(x =>
        {
            x.AddConsumer<DeliverWebhookConsumer>().Endpoint(e => e.Name = "hub-dispatcher");
            // Sized from the bound options (HUB_DISPATCHER_CONCURRENCY), read when the bus builds its endpoints.
            x.AddConfigureEndpointsCallback((context, name, e) =>
            {
                if (name != "hub-dispatcher") return;
                var concurrency = context.GetRequiredService<IOptions<DispatcherOptions>>().Value.Concurrency;
                e.ConcurrentMessageLimit = concurrency;
                e.PrefetchCount = concurrency;
            });
        });
        return builder;
    }

    private static bool TryParse(string schedule)
    {
        try { return RetrySchedule.Parse(schedule).Steps.Count > 0; }
        catch (FormatException) { return false; }
    }
}
