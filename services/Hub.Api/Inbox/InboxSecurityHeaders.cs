namespace Hub.Api.Inbox;

/// <summary>
/// What the inbox page may load and who may frame it. The page is Vite's build: scripts and styles are files
/// of its own origin (no inline code), the favicon is a <c>data:</c> URL, and SignalR talks to the same
/// origin (CSP 3's <c>'self'</c> covers ws:/wss: to it). Nobody may frame it (clickjacking an agent's
/// Claim or Close), and it leaks no conversation URL in a Referer.
/// </summary>
public static class InboxSecurityHeaders
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static void Apply(IHeaderDictionary headers)
    {
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
    }
}
