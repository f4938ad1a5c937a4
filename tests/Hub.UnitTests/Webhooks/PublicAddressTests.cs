using System.Net;
using Hub.Dispatcher.Security;

namespace Hub.UnitTests.Webhooks;

public class PublicAddressTests
{
    [Theory]
    // IPv4
    [InlineData("127.0.0.1")]        // loopback
    [InlineData("127.255.255.254")]
    [InlineData("10.0.0.1")]         // private (RFC 1918)
    [InlineData("10.255.255.255")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]  // link-local: cloud metadata
    [InlineData("169.254.0.1")]
    [InlineData("100.64.0.1")]       // CGNAT
    [InlineData("100.127.255.255")]
    [InlineData("224.0.0.1")]        // multicast
    [InlineData("239.255.255.250")]
    [InlineData("192.0.2.10")]       // documentation
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.9")]
    [InlineData("0.0.0.0")]          // unspecified
    [InlineData("0.1.2.3")]          // "this network"
    [InlineData("255.255.255.255")]  // broadcast
    [InlineData("240.0.0.1")]        // reserved
    [InlineData("198.18.0.1")]       // benchmarking
    [InlineData("192.0.0.8")]        // IETF protocol assignments
    // IPv6
    [InlineData("::1")]              // loopback
    [InlineData("::")]               // unspecified
    [InlineData("fc00::1")]          // unique local
    [InlineData("fd12:3456:789a::1")]
    [InlineData("fe80::1")]          // link-local
    [InlineData("fe80::1%2")]
    [InlineData("ff02::1")]          // multicast
    [InlineData("ff05::2")]
    [InlineData("2001:db8::1")]      // documentation
    [InlineData("2001:db8:ffff::1")]
    [InlineData("3fff::1")]
    [InlineData("fec0::1")]          // site-local
    [InlineData("100::1")]           // discard
    // IPv4 inside IPv6
    [InlineData("::ffff:127.0.0.1")]     // IPv4-mapped
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:192.168.0.1")]
    [InlineData("::127.0.0.1")]          // IPv4-compatible (deprecated)
    [InlineData("64:ff9b::7f00:1")]      // NAT64 of 127.0.0.1
    [InlineData("64:ff9b::a00:1")]       // NAT64 of 10.0.0.1
    [InlineData("64:ff9b::a9fe:a9fe")]   // NAT64 of 169.254.169.254
    [InlineData("2002:7f00:1::1")]       // 6to4 of 127.0.0.1
    [InlineData("2002:c0a8:101::")]      // 6to4 of 192.168.1.1
    [InlineData("2002:a00:1::")]         // 6to4 of 10.0.0.1
    [InlineData("::ffff:100.64.0.1")]    // IPv4-mapped CGNAT
    [InlineData("::ffff:255.255.255.255")]
    [InlineData("::ffff:0.0.0.0")]
    [InlineData("169.254.255.255")]      // the last address of a range
    [InlineData("198.19.255.255")]
    [InlineData("fdff:ffff:ffff::1")]
    [InlineData("febf:ffff::1")]
    public void Non_public_addresses_are_refused(string address)
    {
        Assert.False(PublicAddress.IsPublic(IPAddress.Parse(address)), $"{address} should not be reachable by a webhook");
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("93.184.216.34")]
    [InlineData("9.255.255.255")]        // just below 10/8
    [InlineData("11.0.0.0")]             // just above 10/8
    [InlineData("172.15.255.255")]       // just outside 172.16/12
    [InlineData("172.32.0.1")]
    [InlineData("100.63.255.255")]       // just outside 100.64/10
    [InlineData("100.128.0.1")]
    [InlineData("126.255.255.255")]      // just below 127/8
    [InlineData("128.0.0.1")]
    [InlineData("223.255.255.254")]      // just below multicast
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2001:4860:4860::8888")]
    [InlineData("2a00:1450:4001:81b::200e")]
    [InlineData("::ffff:8.8.8.8")]       // IPv4-mapped public
    [InlineData("64:ff9b::808:808")]     // NAT64 of 8.8.8.8
    [InlineData("::ffff:1.1.1.1")]
    [InlineData("198.20.0.1")]           // just above 198.18/15
    [InlineData("192.0.3.1")]            // just above 192.0.2/24
    [InlineData("2002:808:808::1")]      // 6to4 of 8.8.8.8
    public void Public_addresses_are_allowed(string address)
    {
        Assert.True(PublicAddress.IsPublic(IPAddress.Parse(address)), $"{address} is public");
    }
}
