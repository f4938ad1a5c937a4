using Hub.Core.Hosting;
using MassTransit;
using Microsoft.AspNetCore.SignalR.StackExchangeRedis;
using StackExchange.Redis;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.FileProviders;

namespace Hub.Api.Inbox;

public static class InboxExtensions
{
    /// <summary>
    /// The hub and its pushes. Inbox signals (ConversationChanged, MessageStored) are consumed once, by any API
    /// process (a competing consumer on <c>hub-api-inbox</c>), which pushes through <see cref="IHubContext{THub}"/>.
    /// With <c>HUB_REDIS</c> the official SignalR Redis backplane carries that push to every API process's
    /// connections; without Redis the push reaches only the consuming process's own agents, so scale-out of the
    /// api role requires Redis (a warning at start says so when the bus is shared).
    /// </summary>
    public static IHostApplicationBuilder AddInbox(this IHostApplicationBuilder builder)
    {
        var hub = builder.HubOptions();
        var signalR = builder.Services.AddSignalR(o =>
        {
            // Outermost first: every refusal and failure, the session check's included, is logged at its real weight.
            o.AddFilter<InboxOutcomeFilter>();
            o.AddFilter<InboxSessionFilter>();
            o.MaximumReceiveMessageSize = InboxHub.MaximumMessageBytes;
        }).AddJsonProtocol(o => HubJson.Configure(o.PayloadSerializerOptions));
        // The dispatcher logs every exception a hub method throws as an error, refusals (HubException: 404, 409)
        // included; InboxOutcomeFilter logs them instead, unexpected failures as errors and refusals as debug.
        builder.Logging.AddFilter("Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher", LogLevel.Critical);
        if (hub.UsesRedis)
        {
            // Hub's own connection (one multiplexer per process), whose ChannelPrefix puts HUB_REDIS_PREFIX before
            // every backplane channel (hub:Hub.Api.Inbox.InboxHub:…).
            signalR.AddStackExchangeRedis();
            builder.Services.AddOptions<RedisOptions>().Configure<IConnectionMultiplexer>((o, redis) =>
                o.ConnectionFactory = _ => Task.FromResult(redis));
        }
        else if (hub.UsesRabbitMq)
        {
            builder.Services.AddHostedService<SingleProcessInboxWarning>();
        }
        builder.Services.AddSingleton<InboxActions>();
        builder.Services.AddSingleton<TypingTracker>();
        builder.Services.AddSingleton<InboxPresence>();
        builder.ConfigureHubBus(x => x.AddConsumer<InboxNotifier>().Endpoint(e => e.Name = "hub-api-inbox"));
        return builder;
    }

    /// <summary>The hub, its REST mirror, and the inbox page (web-inbox's build, copied next to the executable).</summary>
    public static IEndpointRouteBuilder MapInbox(this WebApplication app, RouteGroupBuilder v1)
    {
        app.MapHub<InboxHub>(InboxHub.Path);
        v1.MapInboxApi();

        app.Use((context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/inbox")) InboxSecurityHeaders.Apply(context.Response.Headers);
            return next(context);
        });

        var page = Path.Combine(AppContext.BaseDirectory, "inbox");
        if (Directory.Exists(page))
        {
            var files = new PhysicalFileProvider(page);
            // "/inbox" → "/inbox/". Not an endpoint: routing would match "/inbox/" too, and the static files
            // middleware steps aside for a matched endpoint (the page would redirect to itself forever).
            app.Use((context, next) =>
            {
                if (context.Request.Path.Value != "/inbox") return next(context);
                context.Response.Redirect("/inbox/" + context.Request.QueryString);
                return Task.CompletedTask;
            });
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "/inbox" });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = files, RequestPath = "/inbox" });
        }
        return app;
    }
}

/// <summary>Says once, at start, what a shared bus without Redis means for the inbox.</summary>
internal sealed class SingleProcessInboxWarning(ILogger<SingleProcessInboxWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        logger.LogWarning("HUB_REDIS is not set: inbox pushes reach only agents connected to the API process that consumed the change. "
            + "Run one API process, or set HUB_REDIS so the SignalR backplane reaches every API process (scale-out requires Redis).");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
