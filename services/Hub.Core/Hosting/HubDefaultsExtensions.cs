using System.Text.Json;
using Hub.Core.Data;
using Hub.Core.Redis;
using Hub.Core.Replies;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hub.Core.Hosting;

public static class HubDefaultsExtensions
{
    /// <summary>Options, JSON, the store (migrated at start-up) and the roles this process runs.</summary>
    public static IHostApplicationBuilder AddHubDefaults(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<HubOptions>()
            .Bind(builder.Configuration)
            .ValidateDataAnnotations()
            .Validate(o => !o.UsesRabbitMq || !string.IsNullOrWhiteSpace(o.RabbitMq),
                "HUB_TRANSPORT=rabbitmq needs HUB_RABBITMQ (amqp://user:pass@host:port/vhost).")
            .ValidateOnStart();

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.Configure<JsonOptions>(o => HubJson.Configure(o.SerializerOptions));
        builder.Services.AddSingleton(new HubRoleSet(builder.Roles()));
        builder.AddHubStore();
        builder.AddHubRedis();
        if (HubRedis.IsConfigured(builder.Configuration)) builder.Services.AddSingleton<IReplyRoute, RedisReplyRoute>();
        else builder.Services.AddSingleton<IReplyRoute, BusReplyRoute>();
        return builder;
    }

    public static HubRoles Roles(this IHostApplicationBuilder builder) =>
        HubRolesParser.Parse(builder.Configuration["HUB_ROLES"]);

    public static bool HasRole(this IHostApplicationBuilder builder, HubRoles role) =>
        (builder.Roles() & role) == role;
}

public sealed record HubRoleSet(HubRoles Roles)
{
    public bool Has(HubRoles role) => (Roles & role) == role;
}

public static class HubJson
{
    /// <summary>snake_case on the wire, as the contract says; dictionary keys (metadata) stay as sent.</summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never;
    }

    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Configure(options);
        return options;
    }
}
