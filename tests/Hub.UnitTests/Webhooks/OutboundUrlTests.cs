using Hub.Dispatcher.Security;

namespace Hub.UnitTests.Webhooks;

public class OutboundUrlTests
{
    [Theory]
    [InlineData("http://Example.COM/x", "example.com")]
    [InlineData("http://example.com./x", "example.com")]
    [InlineData("http://localhost.:9/x", "localhost")]
    [InlineData("http://127.0.0.1.:9/x", "127.0.0.1")]
    [InlineData("http://127\u30020\u30020\u30021:9/x", "127.0.0.1")]
    [InlineData("http://127\uFF0E0\uFF0E0\uFF0E1/x", "127.0.0.1")]
    [InlineData("http://127\uFF610\uFF610\uFF611/x", "127.0.0.1")]
    [InlineData("http://b\u00FCcher.example/x", "xn--bcher-kva.example")]
    [InlineData("http://\uFF4C\uFF4F\uFF43\uFF41\uFF4C\uFF48\uFF4F\uFF53\uFF54/x", "localhost")]
    [InlineData("http://[::1]:9/x", "::1")]
    public void The_host_is_checked_as_the_resolver_sees_it(string url, string host)
    {
        Assert.Equal(host, OutboundUrl.CanonicalHost(new Uri(url)));
    }

    [Theory]
    [InlineData("ftp://example.com/x")]
    [InlineData("/relative")]
    [InlineData("not a url")]
    public void Only_absolute_http_urls_pass(string url)
    {
        Assert.Equal(OutboundUrl.Problem.NotHttp, OutboundUrl.Check(url, allowPrivate: true));
    }

    [Fact]
    public void A_private_host_passes_only_when_private_addresses_are_allowed()
    {
        Assert.Equal(OutboundUrl.Problem.NonPublic, OutboundUrl.Check("http://127\u30020\u30020\u30021:9/x", allowPrivate: false));
        Assert.Equal(OutboundUrl.Problem.None, OutboundUrl.Check("http://127\u30020\u30020\u30021:9/x", allowPrivate: true));
        Assert.Equal(OutboundUrl.Problem.None, OutboundUrl.Check("https://example.com/x", allowPrivate: false));
    }
}
