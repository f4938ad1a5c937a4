using System.ComponentModel.DataAnnotations;
using System.Net;
using IPNetwork = System.Net.IPNetwork;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Hub.Api.Auth;

/// <summary>
/// The reverse proxies whose <c>X-Forwarded-For</c> / <c>X-Forwarded-Proto</c> Hub believes, e.g.
/// <code>{ "HUB_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.10" }</code>
/// Behind a TLS-terminating proxy this is what makes <c>Request.IsHttps</c> true (so the session cookie is
/// <c>Secure</c>) and the client's address the one login limits and rate limits count. Unset, no forwarded
/// header is believed from anyone: a client cannot claim HTTPS or another address by sending them.
/// </summary>
public sealed class TrustedProxyOptions : IValidatableObject
{
    [ConfigurationKeyName("HUB_TRUSTED_PROXIES")]
    public string? TrustedProxies { get; set; }

    public IReadOnlyList<IPNetwork> Networks => Parse(TrustedProxies, out _);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        Parse(TrustedProxies, out var invalid);
        if (invalid.Count > 0)
            yield return new ValidationResult(
                $"HUB_TRUSTED_PROXIES must be a comma-separated list of IP addresses or CIDR ranges; not understood: {string.Join(", ", invalid)}.",
                [nameof(TrustedProxies)]);
    }

    private static List<IPNetwork> Parse(string? value, out List<string> invalid)
    {
        var networks = new List<IPNetwork>();
        invalid = [];
        foreach (var entry in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (IPNetwork.TryParse(entry, out var network)) networks.Add(network);
            else if (IPAddress.TryParse(entry, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
                // A proxy reaching us over IPv6 sockets shows IPv4 as ::ffff:a.b.c.d.
                if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) networks.Add(new IPNetwork(address.MapToIPv6(), 128));
            }
            else invalid.Add(entry);
        }
        return networks;
    }
}

public static class TrustedProxyExtensions
{
    public static IHostApplicationBuilder AddTrustedProxies(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TrustedProxyOptions>().BindConfiguration("").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<TrustedProxyOptions>>((o, proxies) =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            // Only the configured proxies: the framework's default trusts loopback, and an empty list would trust everyone.
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            foreach (var network in proxies.Value.Networks) o.KnownIPNetworks.Add(network);
            // Walk back through a chain of trusted proxies to the first address that is not one.
            o.ForwardLimit = null;
        });
        return builder;
    }

    /// <summary>First in the pipeline, and only when proxies are configured (with none, the middleware would believe anyone).</summary>
    public static WebApplication UseTrustedProxies(this WebApplication app)
    {
        if (app.Services.GetService<IOptions<TrustedProxyOptions>>()?.Value.Networks is { Count: > 0 })
            app.UseForwardedHeaders();
        return app;
    }
}
