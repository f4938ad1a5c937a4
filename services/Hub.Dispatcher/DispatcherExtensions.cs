using Hub.Core.Hosting;
using Microsoft.Extensions.Hosting;

namespace Hub.Dispatcher;

public static class DispatcherExtensions
{
    /// <summary>The <c>dispatcher</c> role: webhook delivery of replies and events.</summary>
    public static IHostApplicationBuilder AddDispatcher(this IHostApplicationBuilder builder)
    {
        if (!builder.HasRole(HubRoles.Dispatcher)) return builder;
        return builder;
    }
}
