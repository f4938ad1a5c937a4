using Hub.Api.Agents;
using Hub.Api.Auth;
using Hub.Api.Bots;
using Hub.Api.Conversations;
using Hub.Api.Deliveries;
using Hub.Api.Errors;
using Hub.Api.Inbox;
using Hub.Api.Messages;
using Hub.Api.OpenApi;
using Hub.Api.RateLimiting;
using Hub.Api.Usage;
using Hub.Core.Hosting;
using MassTransit;

namespace Hub.Api;

public static class ApiExtensions
{
    /// <summary>The <c>api</c> role: the public HTTP API and the relay that brings replies back to its callers.</summary>
    public static IHostApplicationBuilder AddHubApi(this IHostApplicationBuilder builder)
    {
        builder.AddHubProblems();
        if (!builder.HasRole(HubRoles.Api)) return builder;

        builder.AddHubAuth();
        builder.AddHubRateLimits();
        builder.Services.AddHubOpenApi();
        builder.Services.AddOptions<MessageOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<MessageIntake>();
        builder.Services.AddSingleton<ReplyWaiters>();
        builder.AddInbox();

        // Replies come back to the process holding the caller's connection: on its own Redis channel when
        // Redis is configured, otherwise on its own temporary queue (every API process sees every reply).
        // ReplyRouting decides for the worker's side too, from the same bound options.
        var instance = Ids.RandomToken(6).ToLowerInvariant();
        builder.Services.AddSingleton(new ApiInstance(instance));
        if (Core.Replies.ReplyRouting.ViaRedis(builder.HubOptions()))
            builder.Services.AddHostedService<RedisReplySubscriber>();
        else
            builder.ConfigureHubBus(x => x.AddConsumer<ReplyRelay>().Endpoint(e =>
            {
                e.Name = HubBusExtensions.ReplyRelayEndpoint;
                e.InstanceId = instance;
                e.Temporary = true;
            }));
        return builder;
    }

    public static WebApplication MapHubApi(this WebApplication app)
    {
        app.UseTrustedProxies();
        app.UseHubProblems();
        if (!app.Services.GetRequiredService<HubRoleSet>().Has(HubRoles.Api)) return app;

        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseAuthorization();
        app.MapHubOpenApi();

        var v1 = app.MapGroup("").RequireRateLimiting(HubRateLimits.PerKey);
        v1.MapBotsApi();
        v1.MapConversationsApi();
        v1.MapMessagesApi();
        v1.MapUsageApi();
        v1.MapDeliveriesApi();
        v1.MapAgentsApi();
        v1.MapLoginApi();
        app.MapInbox(v1);
        return app;
    }
}
