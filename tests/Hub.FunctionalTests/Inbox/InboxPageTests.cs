using Hub.Api.Inbox;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Inbox;

/// <summary>The inbox page's protective headers: its own origin only, never framed, no sniffing, no referrer.</summary>
public sealed class InboxPageTests(InboxHubFixture fixture) : IClassFixture<InboxHubFixture>
{
    private readonly HubFixture _hub = fixture.Hub;

    [Theory]
    [InlineData("/inbox/")]
    [InlineData("/inbox")]
    [InlineData("/inbox/index.html")]
    public async Task The_inbox_page_sends_CSP_frame_nosniff_and_referrer_headers(string path)
    {
        using var browser = _hub.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        var response = await browser.GetAsync(path);

        Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode} for {path}");
        var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Equal(InboxSecurityHeaders.ContentSecurityPolicy, csp);
        var directives = csp.Split(';', StringSplitOptions.TrimEntries).ToDictionary(d => d.Split(' ')[0], d => d[(d.IndexOf(' ') + 1)..]);
        Assert.Equal("'self'", directives["default-src"]);
        Assert.Equal("'self'", directives["connect-src"]);
        Assert.Equal("'none'", directives["frame-ancestors"]);
        Assert.Equal("'self'", directives["script-src"]);
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
    }

    [Fact]
    public async Task The_inbox_page_has_no_inline_script_or_style_that_its_CSP_would_block()
    {
        using var browser = _hub.CreateClient();

        var response = await browser.GetAsync("/inbox/");

        response.EnsureSuccessStatusCode();
        var html = await response.Content.ReadAsStringAsync();
        Assert.DoesNotMatch(@"<script(?![^>]*\bsrc=)[^>]*>", html);
        Assert.DoesNotContain("<style", html);
        Assert.DoesNotContain(" style=", html);
        Assert.DoesNotMatch(@"<[^>]+\son[a-z]+\s*=", html);
    }
}
