using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Hub.Core.Data;
using Hub.Core.Redis;
using Hub.Core.Replies;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hub.Core.Hosting;

public static class HubDefaultsExtensions
{
    private const string OptionsKey = "Hub.Options";

    /// <summary>Options, JSON, the store (migrated at start-up) and the roles this process runs.</summary>
    public static IHostApplicationBuilder AddHubDefaults(this IHostApplicationBuilder builder)
    {
        var hub = builder.HubOptions(); // bad values stop the start here, before anything is registered
        builder.Services.AddOptions<HubOptions>()
            .Bind(builder.Configuration)
            .ValidateDataAnnotations()
            .Validate(o => !o.UsesRabbitMq || !string.IsNullOrWhiteSpace(o.RabbitMq), RabbitMqMissing)
            .ValidateOnStart();

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.Configure<JsonOptions>(o => HubJson.Configure(o.SerializerOptions));
        builder.Services.AddSingleton(new HubRoleSet(builder.Roles()));
        builder.AddHubRedis();
        builder.AddHubStore();
        builder.Services.AddReplyRoute(hub);
        return builder;
    }

    private const string RabbitMqMissing = "HUB_TRANSPORT=rabbitmq needs HUB_RABBITMQ (amqp://user:pass@host:port/vhost).";

    /// <summary>
    /// The options as bound from configuration, for what must be decided while services are registered (which
    /// roles, which transport, whether Redis carries the shared state). Bound and validated once per builder with
    /// the same rules <c>ValidateOnStart</c> applies, so a bad value stops the start with its key in the message.
    /// </summary>
    public static HubOptions HubOptions(this IHostApplicationBuilder builder)
    {
        if (builder.Properties.TryGetValue(OptionsKey, out var cached)) return (HubOptions)cached;
        var options = new HubOptions();
        builder.Configuration.Bind(options);
        var errors = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), errors, validateAllProperties: true);
        var failures = errors.Select(e => e.ErrorMessage ?? "invalid value").ToList();
        if (options.UsesRabbitMq && string.IsNullOrWhiteSpace(options.RabbitMq)) failures.Add(RabbitMqMissing);
        if (failures.Count > 0) throw new OptionsValidationException(nameof(Hosting.HubOptions), typeof(HubOptions), failures);
        builder.Properties[OptionsKey] = options;
        return options;
    }

    public static HubRoles Roles(this IHostApplicationBuilder builder) => HubRolesParser.Parse(builder.HubOptions().Roles);

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
