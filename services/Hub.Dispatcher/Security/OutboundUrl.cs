using System.Globalization;
using System.Net;

namespace Hub.Dispatcher.Security;

/// <summary>
/// The check a URL Hub will call gets when it is registered (a webhook URL today; anything else Hub is told
/// to call is "checked like a webhook URL" with this same function). It looks at the host as the resolver will
/// see it, so spellings of a private address do not slip past: IDN labels are mapped (full-width letters, the
/// ideographic and full-width full stops U+3002, U+FF0E, U+FF61 become '.'), the trailing root dot of
/// <c>localhost.</c> or <c>127.0.0.1.</c> is dropped, and IPv4 in any form <see cref="Uri"/> or
/// <see cref="IPAddress"/> accepts (<c>127.1</c>, <c>0x7f.0.0.1</c>, <c>2130706433</c>) is one address. Names are
/// checked again on every connect, where DNS answers are known (see <see cref="PublicAddress"/>).
/// </summary>
public static class OutboundUrl
{
    public const int MaxLength = 2048;

    public enum Problem { None, NotHttp, NonPublic }

    /// <summary>Whether <paramref name="url"/> is an absolute http(s) URL and, unless <paramref name="allowPrivate"/>, names no non-public host.</summary>
    public static Problem Check(string url, bool allowPrivate)
    {
        if (url.Length > MaxLength
            || !Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host)
            || CanonicalHost(uri) is not { Length: > 0 } host)
            return Problem.NotHttp;
        if (allowPrivate) return Problem.None;
        return NamesNonPublicHost(host) ? Problem.NonPublic : Problem.None;
    }

    /// <summary>The message a validation problem shows for <paramref name="field"/>, or null when the URL is fine.</summary>
    public static string? Message(string field, string url, bool allowPrivate) => Check(url, allowPrivate) switch
    {
        Problem.NotHttp => $"{field} must be an absolute http or https URL.",
        Problem.NonPublic => $"{field} points at a loopback, private or otherwise non-public address (set HUB_WEBHOOK_ALLOW_PRIVATE=true to allow it).",
        _ => null,
    };

    /// <summary>
    /// The host in the form a resolver sees: ASCII (punycode), lower case, without the root dot; an IP literal
    /// as the address. Null when the host is not a valid name.
    /// </summary>
    public static string? CanonicalHost(Uri uri)
    {
        if (uri.HostNameType == UriHostNameType.IPv6) return uri.Host.Trim('[', ']');
        // Uri leaves some of these to the resolver; IdnMapping applies IDNA's mapping (UTS #46) to every label.
        var host = uri.Host.Replace('\u3002', '.').Replace('\uFF0E', '.').Replace('\uFF61', '.');
        string ascii;
        try
        {
            ascii = new IdnMapping().GetAscii(host.TrimEnd('.'));
        }
        catch (ArgumentException)
        {
            return null;
        }
        return ascii.TrimEnd('.').ToLowerInvariant();
    }

    private static bool NamesNonPublicHost(string host)
    {
        if (host == "localhost" || host.EndsWith(".localhost", StringComparison.Ordinal)) return true;
        return IPAddress.TryParse(host, out var address) && !PublicAddress.IsPublic(address);
    }
}
