using Hub.Core.Hosting;
using MassTransit;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.FileProviders;

namespace Hub.Api.Inbox;

public static class InboxExtensions
{
    public static IHostApplicationBuilder AddInbox(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSignalR(o =>
        {
            // Outermost first: every refusal and failure, the session check's included, is logged at its real weight.
            o.AddFilter<InboxOutcomeFilter>();
            o.AddFilter<InboxSessionFilter>();
            o.MaximumReceiveMessageSize = InboxHub.MaximumMessageBytes;
        }).AddJsonProtocol(o => HubJson.Configure(o.PayloadSerializerOptions));
        // The dispatcher logs every exception a hub method throws as an error, refusals (HubException: 404, 409)
        // included; InboxOutcomeFilter logs them instead, unexpected failures as errors and refusals as debug.
        builder.Logging.AddFilter("Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher", LogLevel.Critical);
        builder.Services.AddSingleton<InboxActions>();
        builder.Services.AddSingleton<TypingTracker>();
        builder.Services.AddSingleton<InboxPresence>();
        var instance = Ids.RandomToken(6).ToLowerInvariant();
        builder.ConfigureHubBus(x => x.AddConsumer<InboxNotifier>().Endpoint(e =>
        {
            e.Name = "hub-api-inbox";
            e.InstanceId = instance;
            e.Temporary = true;
        }));
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
