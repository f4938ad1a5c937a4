using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Hub.AiWorker;

/// <summary>
/// Tuning for the AI worker; every key is optional, e.g.
/// <code>{ "HUB_AI_CONCURRENCY": 32, "HUB_REPLY_LEASE_SECONDS": 120, "HUB_LLM_RETRIES": 3 }</code>
/// </summary>
public sealed class AiWorkerOptions
{
    /// <summary>How many replies one worker produces at once.</summary>
    [ConfigurationKeyName("HUB_AI_CONCURRENCY")]
    [Range(1, 100_000, ErrorMessage = "HUB_AI_CONCURRENCY must be a whole number from 1 to 100000.")]
    public int Concurrency { get; set; } = 32;

    /// <summary>How long a worker holds a message before another may take it over (longer than a slow LLM reply).</summary>
    [ConfigurationKeyName("HUB_REPLY_LEASE_SECONDS")] public int ReplyLeaseSeconds { get; set; } = 180;

    /// <summary>How long an accepted message may wait for a worker before it is put on the bus again.</summary>
    [ConfigurationKeyName("HUB_REPLY_REDRIVE_SECONDS")] public int RedriveAfterSeconds { get; set; } = 30;

    /// <summary>How often the re-driver looks for such messages.</summary>
    [ConfigurationKeyName("HUB_REDRIVE_SWEEP_SECONDS")] public double RedriveSweepSeconds { get; set; } = 5;

    /// <summary>How many earlier messages of the conversation go to the LLM with the new one.</summary>
    [ConfigurationKeyName("HUB_HISTORY_MESSAGES")] public int HistoryMessages { get; set; } = 40;

    [ConfigurationKeyName("HUB_LLM_RETRIES")] public int LlmRetries { get; set; } = 3;
    [ConfigurationKeyName("HUB_LLM_RETRY_DELAY_MS")] public int LlmRetryDelayMilliseconds { get; set; } = 500;

    /// <summary>Bounds one HTTP attempt to the LLM server, including reading its stream.</summary>
    [ConfigurationKeyName("HUB_LLM_TIMEOUT_SECONDS")] public int LlmAttemptTimeoutSeconds { get; set; } = 120;
}
