using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Hub.Core.Hosting;

/// <summary>
/// The public configuration (README, Configuration). Read from environment variables of the same
/// names (appsettings.json may mirror them as top-level keys), bound and validated once at start-up
/// (<see cref="HubDefaultsExtensions.AddHubDefaults"/>); features take <c>IOptions&lt;HubOptions&gt;</c>. E.g.
/// <code>{ "HUB_DATABASE": "sqlite", "HUB_DATABASE_CONNECTION": "Data Source=hub.db", "HUB_ROLES": "api,ai-worker",
///   "HUB_REDIS": "localhost:6379", "HUB_REDIS_PREFIX": "hub:", "HUB_CACHE_SECONDS": 3 }</code>
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

    /// <summary>Put before every Redis key and channel Hub uses, so several Hubs (or other apps) can share one Redis.</summary>
    [ConfigurationKeyName("HUB_REDIS_PREFIX")]
    [RegularExpression(@"^[A-Za-z0-9_.:\-]{1,64}$", ErrorMessage = "HUB_REDIS_PREFIX must be 1 to 64 letters, digits or _ . : - (e.g. 'hub:').")]
    public string RedisPrefix { get; set; } = "hub:";

    [ConfigurationKeyName("HUB_ROLES")] public string Roles { get; set; } = "api,ai-worker,dispatcher";

    /// <summary>How long a process keeps a bot key or a bot row it read; 0 turns the caches off.</summary>
    [ConfigurationKeyName("HUB_CACHE_SECONDS")]
    [Range(0, 3600, ErrorMessage = "HUB_CACHE_SECONDS must be a number of seconds from 0 to 3600.")]
    public double CacheSeconds { get; set; } = 3;

    [ConfigurationKeyName("HUB_LLM_BASE_URL")] public string? LlmBaseUrl { get; set; }
    [ConfigurationKeyName("HUB_LLM_API_KEY")] public string? LlmApiKey { get; set; }
    [ConfigurationKeyName("HUB_LLM_MODEL")] public string? LlmModel { get; set; }

    [ConfigurationKeyName("HUB_WEBHOOK_ALLOW_PRIVATE")] public bool WebhookAllowPrivate { get; set; }

    /// <summary>Serves <c>GET /metrics</c> (Prometheus text format) on this process.</summary>
    [ConfigurationKeyName("HUB_METRICS")] public bool Metrics { get; set; }

    /// <summary><c>text</c> (one readable line per entry) or <c>json</c> (one JSON object per line), both with the entry's <c>trace_id</c>.</summary>
    [ConfigurationKeyName("HUB_LOG_FORMAT")]
    [RegularExpression("^(text|json)$", ErrorMessage = "HUB_LOG_FORMAT must be 'text' or 'json'.")]
    public string LogFormat { get; set; } = "text";

    /// <summary>OpenTelemetry's own variable: when set, traces, metrics and logs are exported over OTLP (the other OTEL_* variables apply).</summary>
    [ConfigurationKeyName("OTEL_EXPORTER_OTLP_ENDPOINT")] public string? OtlpEndpoint { get; set; }

    public bool UsesOtlp => !string.IsNullOrWhiteSpace(OtlpEndpoint);

    public string ConnectionString => string.IsNullOrWhiteSpace(DatabaseConnection)
        ? (Database == "sqlite" ? "Data Source=hub.db" : throw new InvalidOperationException("HUB_DATABASE_CONNECTION is required for sqlserver."))
        : DatabaseConnection;

    public bool UsesRabbitMq => Transport == "rabbitmq";

    /// <summary>
    /// The one switch for everything Redis carries (reply route, inbox backplane, shared rate limits, cache
    /// eviction): every role of every process reads it from here, so none can pick a route the others do not.
    /// </summary>
    public bool UsesRedis => !string.IsNullOrWhiteSpace(Redis);
}
