using System.ComponentModel.DataAnnotations;

namespace Hub.Api.Auth;

/// <summary>
/// How hard logging in is to abuse, e.g.
/// <code>{ "HUB_LOGIN_MAX_FAILURES": 5, "HUB_LOGIN_MAX_FAILURES_PER_IP": 50, "HUB_LOGIN_WINDOW_SECONDS": 900 }</code>
/// </summary>
public sealed class LoginOptions
{
    /// <summary>Wrong passwords for one email from one address before that pair is refused (429) for the rest of the window.</summary>
    [ConfigurationKeyName("HUB_LOGIN_MAX_FAILURES")]
    [Range(1, 10_000)]
    public int MaxFailures { get; set; } = 5;

    /// <summary>Failed logins from one address, whatever the email, before the address is refused: looser, for shared NATs.</summary>
    [ConfigurationKeyName("HUB_LOGIN_MAX_FAILURES_PER_IP")]
    [Range(1, 1_000_000)]
    public int MaxFailuresPerAddress { get; set; } = 50;

    [ConfigurationKeyName("HUB_LOGIN_WINDOW_SECONDS")]
    [Range(1, 86_400)]
    public int WindowSeconds { get; set; } = 900;

    /// <summary>Password hashes (PBKDF2, ~100 ms of one core each) run at once; 0 means half the cores, at least one.</summary>
    [ConfigurationKeyName("HUB_LOGIN_MAX_CONCURRENT_HASHES")]
    [Range(0, 1024)]
    public int MaxConcurrentHashes { get; set; }

    /// <summary>How long a login waits for a free hashing slot before it is told to come back (503 <c>unavailable</c>).</summary>
    [ConfigurationKeyName("HUB_LOGIN_HASH_WAIT_MS")]
    [Range(0, 60_000)]
    public int HashWaitMilliseconds { get; set; } = 2_000;

    public TimeSpan Window => TimeSpan.FromSeconds(WindowSeconds);

    public int HashSlots => MaxConcurrentHashes > 0 ? MaxConcurrentHashes : Math.Max(1, Environment.ProcessorCount / 2);
}
