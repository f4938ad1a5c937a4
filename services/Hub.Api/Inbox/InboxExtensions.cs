using Hub.Core.Hosting;
using MassTransit;
using Microsoft.Extensions.FileProviders;

namespace Hub.Api.Inbox;

public static class InboxExtensions
{
    public static IHostApplicationBuilder AddInbox(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSignalR().AddJsonProtocol(o => HubJson.Configure(o.PayloadSerializerOptions));
        builder.Services.AddSingleton<InboxActions>();
        builder.Services.AddSingleton<TypingTracker>();
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

        var page = Path.Combine(AppContext.BaseDirectory, "inbox");
        if (Directory.Exists(page))
        {
            var files = new PhysicalFileProvider(page);
            app.MapGet("/inbox", () => Results.Redirect("/inbox/")).ExcludeFromDescription();
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "/inbox" });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = files, RequestPath = "/inbox" });
        }
        return app;
    }
}
