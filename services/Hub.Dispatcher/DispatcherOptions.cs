using Microsoft.Extensions.Configuration;

namespace Hub.Dispatcher;

/// <summary>
/// Webhook delivery settings; every key is optional, e.g.
/// <code>{ "HUB_WEBHOOK_RETRY_SCHEDULE": "5s,5m,30m,2h,5h,10h,10h", "HUB_WEBHOOK_ENDPOINT_CONCURRENCY": 4 }</code>
/// </summary>
public sealed class DispatcherOptions
{
    /// <summary>Waits before the 2nd, 3rd, … try; after the last the delivery is failed. Units: ms, s, m, h, d.</summary>
    [ConfigurationKeyName("HUB_WEBHOOK_RETRY_SCHEDULE")] public string RetrySchedule { get; set; } = "5s,5m,30m,2h,5h,10h,10h";

    /// <summary>A 2xx within this time is success.</summary>
    [ConfigurationKeyName("HUB_WEBHOOK_TIMEOUT_SECONDS")] public double TimeoutSeconds { get; set; } = 15;

    /// <summary>Tries in flight at once to one endpoint, so one slow receiver cannot take every slot.</summary>
    [ConfigurationKeyName("HUB_WEBHOOK_ENDPOINT_CONCURRENCY")] public int EndpointConcurrency { get; set; } = 4;

    /// <summary>Tries in flight at once in this dispatcher.</summary>
    [ConfigurationKeyName("HUB_DISPATCHER_CONCURRENCY")] public int Concurrency { get; set; } = 64;

    /// <summary>How often the scheduler looks for due tries in the store.</summary>
    [ConfigurationKeyName("HUB_WEBHOOK_POLL_MS")] public int PollMilliseconds { get; set; } = 500;

    /// <summary>An endpoint failing without a single success for this long is disabled.</summary>
    [ConfigurationKeyName("HUB_WEBHOOK_DISABLE_AFTER_HOURS")] public double DisableAfterHours { get; set; } = 120;
}
