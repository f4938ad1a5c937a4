using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Hub.Core.Hosting;

/// <summary>
/// The public configuration from ../shared/API.md. Read from environment variables of the same
/// names (appsettings.json may mirror them as top-level keys), e.g.
/// <code>{ "HUB_DATABASE": "sqlite", "HUB_DATABASE_CONNECTION": "Data Source=hub.db", "HUB_ROLES": "api,ai-worker" }</code>
/// </summary>
public sealed class HubOptions
{
    [ConfigurationKeyName("HUB_URLS")] public string Urls { get; set; } = "http://127.0.0.1:5080";
    [ConfigurationKeyName("HUB_ADMIN_KEY")] public string? AdminKey { get; set; }

    [ConfigurationKeyName("HUB_DATABASE")]
    [RegularExpression("^(sqlite|sqlserver)$", ErrorMessage = "HUB_DATABASE must be 'sqlite' or 'sqlserver'.")]
    public string Database { get; set; } = "sqlite";

    [ConfigurationKeyName("HUB_DATABASE_CONNECTION")] public string? DatabaseConnection { get; set; }

    [ConfigurationKeyName("HUB_TRANSPORT")]
    [RegularExpression("^(inmemory|rabbitmq)$", ErrorMessage = "HUB_TRANSPORT must be 'inmemory' or 'rabbitmq'.")]
    public string Transport { get; set; } = "inmemory";

    [ConfigurationKeyName("HUB_RABBITMQ")] public string? RabbitMq { get; set; }
    [ConfigurationKeyName("HUB_REDIS")] public string? Redis { get; set; }
    [ConfigurationKeyName("HUB_ROLES")] public string Roles { get; set; } = "api,ai-worker,dispatcher";

    [ConfigurationKeyName("HUB_LLM_BASE_URL")] public string? LlmBaseUrl { get; set; }
    [ConfigurationKeyName("HUB_LLM_API_KEY")] public string? LlmApiKey { get; set; }
    [ConfigurationKeyName("HUB_LLM_MODEL")] public string? LlmModel { get; set; }

    [ConfigurationKeyName("HUB_WEBHOOK_ALLOW_PRIVATE")] public bool WebhookAllowPrivate { get; set; }

    public string ConnectionString => string.IsNullOrWhiteSpace(DatabaseConnection)
        ? (Database == "sqlite" ? "Data Source=hub.db" : throw new InvalidOperationException("HUB_DATABASE_CONNECTION is required for sqlserver."))
        : DatabaseConnection;

    public bool UsesRabbitMq => Transport == "rabbitmq";
}
