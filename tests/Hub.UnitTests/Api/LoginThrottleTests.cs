using System.Net;
using Hub.Api.Auth;
using Microsoft.Extensions.Options;

namespace Hub.UnitTests.Api;

public class LoginThrottleTests
{
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly IPAddress Client = IPAddress.Parse("203.0.113.7");
    private static readonly IPAddress Other = IPAddress.Parse("203.0.113.8");
    private readonly Clock _clock = new();

    private LoginThrottle Throttle(int maxFailures = 5, int perAddress = 50, int windowSeconds = 900) =>
        new(Options.Create(new LoginOptions { MaxFailures = maxFailures, MaxFailuresPerAddress = perAddress, WindowSeconds = windowSeconds }), _clock);

    [Fact]
    public void The_fifth_failure_for_an_email_and_address_closes_them_until_the_window_ends()
    {
        var throttle = Throttle();
        for (var i = 0; i < 4; i++) throttle.Failed("ada@example.com", Client);
        Assert.Null(throttle.RetryAfter("ada@example.com", Client));

        _clock.Now += TimeSpan.FromMinutes(1);
        throttle.Failed("ada@example.com", Client);

        Assert.Equal(TimeSpan.FromMinutes(14), throttle.RetryAfter("ada@example.com", Client));
        Assert.Null(throttle.RetryAfter("ada@example.com", Other));
        Assert.Null(throttle.RetryAfter("bob@example.com", Client));
        _clock.Now += TimeSpan.FromMinutes(14);
        Assert.Null(throttle.RetryAfter("ada@example.com", Client));
    }

    [Fact]
    public void A_success_clears_the_pair_but_not_the_address_count()
    {
        var throttle = Throttle(maxFailures: 3, perAddress: 4);
        for (var i = 0; i < 3; i++) throttle.Failed("ada@example.com", Client);
        Assert.NotNull(throttle.RetryAfter("ada@example.com", Client));

        throttle.Succeeded("ada@example.com", Client);

        Assert.Null(throttle.RetryAfter("ada@example.com", Client));
        throttle.Failed("bob@example.com", Client);
        Assert.NotNull(throttle.RetryAfter("carol@example.com", Client));
    }

    [Fact]
    public void Many_emails_from_one_address_close_the_address()
    {
        var throttle = Throttle(maxFailures: 5, perAddress: 10);
        for (var i = 0; i < 10; i++) throttle.Failed($"user{i}@example.com", Client);

        Assert.Equal(TimeSpan.FromMinutes(15), throttle.RetryAfter("someone-new@example.com", Client));
        Assert.Null(throttle.RetryAfter("someone-new@example.com", Other));
    }

    [Fact]
    public void An_ipv4_address_seen_over_ipv6_counts_as_the_same_address()
    {
        var throttle = Throttle(maxFailures: 2);
        throttle.Failed("ada@example.com", Client);
        throttle.Failed("ada@example.com", Client.MapToIPv6());

        Assert.NotNull(throttle.RetryAfter("ada@example.com", Client));
    }

    [Fact]
    public void Ended_windows_are_swept_once_the_table_is_large()
    {
        var throttle = Throttle(windowSeconds: 60);
        for (var i = 0; i < 6_000; i++) throttle.Failed($"user{i}@example.com", IPAddress.Parse($"198.18.{i / 250}.{i % 250 + 1}"));
        _clock.Now += TimeSpan.FromMinutes(2);

        throttle.Failed("last@example.com", Client);

        // 12,000 ended windows (pair + address each) went; the two just made are all that is left.
        Assert.Equal(2, throttle.Windows);
    }
}
