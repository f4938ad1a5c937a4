using System.Net;
using System.Net.Sockets;

namespace Hub.Dispatcher.Security;

/// <summary>
/// Which addresses a webhook may reach: only public unicast ones. Refused: unspecified, loopback,
/// private (RFC 1918, IPv6 ULA), link-local, CGNAT, multicast, broadcast, documentation, benchmarking,
/// reserved and IETF-special ranges, in IPv4 and IPv6, including IPv4 embedded in IPv6 (mapped, NAT64, 6to4).
/// </summary>
public static class PublicAddress
{
    private static readonly (IPAddress Network, int Prefix)[] RefusedV4 =
    [
        (IPAddress.Parse("0.0.0.0"), 8),        // "this network", unspecified
        (IPAddress.Parse("10.0.0.0"), 8),       // private
        (IPAddress.Parse("100.64.0.0"), 10),    // CGNAT
        (IPAddress.Parse("127.0.0.0"), 8),      // loopback
        (IPAddress.Parse("169.254.0.0"), 16),   // link-local (cloud metadata lives here)
        (IPAddress.Parse("172.16.0.0"), 12),    // private
        (IPAddress.Parse("192.0.0.0"), 24),     // IETF protocol assignments
        (IPAddress.Parse("192.0.2.0"), 24),     // documentation
        (IPAddress.Parse("192.88.99.0"), 24),   // 6to4 relay anycast
        (IPAddress.Parse("192.168.0.0"), 16),   // private
        (IPAddress.Parse("198.18.0.0"), 15),    // benchmarking
        (IPAddress.Parse("198.51.100.0"), 24),  // documentation
        (IPAddress.Parse("203.0.113.0"), 24),   // documentation
        (IPAddress.Parse("224.0.0.0"), 4),      // multicast
        (IPAddress.Parse("240.0.0.0"), 4),      // reserved, broadcast
    ];

    private static readonly (IPAddress Network, int Prefix)[] RefusedV6 =
    [
        (IPAddress.Parse("::"), 128),           // unspecified
        (IPAddress.Parse("::1"), 128),          // loopback
        (IPAddress.Parse("100::"), 64),         // discard
        (IPAddress.Parse("2001::"), 23),        // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
        (IPAddress.Parse("2001:db8::"), 32),    // documentation
        (IPAddress.Parse("3fff::"), 20),        // documentation
        (IPAddress.Parse("fc00::"), 7),         // unique local
        (IPAddress.Parse("fe80::"), 10),        // link-local
        (IPAddress.Parse("fec0::"), 10),        // site-local (deprecated)
        (IPAddress.Parse("ff00::"), 8),         // multicast
    ];

    public static bool IsPublic(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (address.IsIPv4MappedToIPv6) return IsPublic(address.MapToIPv4());
            var bytes = address.GetAddressBytes();
            // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
            if (bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0) return false;
            if (InRange(address, IPAddress.Parse("64:ff9b::"), 96)) return IsPublic(new IPAddress(bytes.AsSpan(12, 4)));
            if (bytes[0] == 0x20 && bytes[1] == 0x02) return IsPublic(new IPAddress(bytes.AsSpan(2, 4)));
            return !RefusedV6.Any(r => InRange(address, r.Network, r.Prefix));
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return !RefusedV4.Any(r => InRange(address, r.Network, r.Prefix));
        return false;
    }

    private static bool InRange(IPAddress address, IPAddress network, int prefix)
    {
        if (address.AddressFamily != network.AddressFamily) return false;
        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        var full = prefix / 8;
        if (!a.AsSpan(0, full).SequenceEqual(n.AsSpan(0, full))) return false;
        var rest = prefix % 8;
        if (rest == 0) return true;
        var mask = (byte)(0xFF << (8 - rest));
        return (a[full] & mask) == (n[full] & mask);
    }
}

/// <summary>The webhook URL's host resolved only to addresses a webhook may not reach.</summary>
public sealed class AddressRefusedException(string message) : Exception(message);
