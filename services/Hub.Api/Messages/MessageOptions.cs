using System.ComponentModel.DataAnnotations;

namespace Hub.Api.Messages;

/// <summary>
/// The message path's settings in the api role; every key is optional, e.g.
/// <code>{ "HUB_SSE_PING_SECONDS": 15, "HUB_REPLY_REDRIVE_SECONDS": 30 }</code>
/// </summary>
public sealed class MessageOptions
{
    /// <summary>How often an idle stream gets a <c>: ping</c> comment.</summary>
    [ConfigurationKeyName("HUB_SSE_PING_SECONDS")]
    [Range(0.1, 3600, ErrorMessage = "HUB_SSE_PING_SECONDS must be a number of seconds from 0.1 to 3600.")]
    public double SsePingSeconds { get; set; } = 15;

    /// <summary>When an accepted message still unanswered is put on the bus again (the AI worker reads the same key).</summary>
    [ConfigurationKeyName("HUB_REPLY_REDRIVE_SECONDS")]
    [Range(1, 86_400, ErrorMessage = "HUB_REPLY_REDRIVE_SECONDS must be a whole number of seconds from 1 to 86400.")]
    public int ReplyRedriveSeconds { get; set; } = 30;
}
