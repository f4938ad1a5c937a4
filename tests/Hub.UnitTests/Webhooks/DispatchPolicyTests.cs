using Hub.Dispatcher.Delivery;

namespace Hub.UnitTests.Webhooks;

public class DispatchPolicyTests
{
    private static readonly RetrySchedule Schedule = RetrySchedule.Parse("5s,5m,30m");
    private static readonly TimeSpan DisableAfter = TimeSpan.FromDays(5);
    private const long Now = 1_700_000_000_000;

    private static AttemptResult Ok(int status = 200) => new(AttemptOutcome.Succeeded, status, 12, null, "ok", null);
    private static AttemptResult Failed(int? status = 500, TimeSpan? retryAfter = null) =>
        new(AttemptOutcome.Failed, status, 12, status is null ? "connect failed" : $"HTTP {status}", null, retryAfter);
    private static AttemptResult Gone() => new(AttemptOutcome.Gone, 410, 12, "HTTP 410", "gone", null);

    private static Decision Decide(AttemptResult result, int triesSoFar = 1, long? failingSince = null) =>
        DispatchPolicy.Decide(result, triesSoFar, failingSince, Now, Schedule, DisableAfter, new Random(7));

    [Theory]
    [InlineData(200)]
    [InlineData(201)]
    [InlineData(204)]
    [InlineData(299)]
    public void A_2xx_is_delivered(int status)
    {
        Assert.IsType<Decision.Delivered>(Decide(Ok(status)));
    }

    [Fact]
    public void A_2xx_is_delivered_even_on_the_last_try_of_an_endpoint_failing_for_days()
    {
        Assert.IsType<Decision.Delivered>(Decide(Ok(), triesSoFar: 4, failingSince: Now - (long)TimeSpan.FromDays(30).TotalMilliseconds));
    }

    [Fact]
    public void A_410_disables_the_endpoint_at_once_and_the_delivery_waits_due_now()
    {
        var decision = Assert.IsType<Decision.DisableEndpoint>(Decide(Gone()));
        Assert.Contains("410", decision.Reason);
        Assert.Equal(Now, decision.DueAt);
    }

    [Fact]
    public void A_410_disables_even_on_the_first_failure_of_a_healthy_endpoint()
    {
        Assert.IsType<Decision.DisableEndpoint>(Decide(Gone(), triesSoFar: 1, failingSince: null));
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 300)]
    [InlineData(3, 1800)]
    public void A_failure_is_retried_at_the_next_step_with_jitter(int triesSoFar, double stepSeconds)
    {
        var retry = Assert.IsType<Decision.RetryAt>(Decide(Failed(), triesSoFar));
        Assert.InRange(retry.DueAt - Now, stepSeconds * 800, stepSeconds * 1200);
    }

    [Fact]
    public void A_connection_failure_is_retried_like_an_error_status()
    {
        Assert.IsType<Decision.RetryAt>(Decide(Failed(status: null)));
    }

    [Fact]
    public void The_receivers_retry_after_sets_the_next_try_within_the_clamp()
    {
        var retry = Assert.IsType<Decision.RetryAt>(Decide(Failed(429, TimeSpan.FromSeconds(8))));
        Assert.Equal(Now + 8_000, retry.DueAt);
        var clamped = Assert.IsType<Decision.RetryAt>(Decide(Failed(503, TimeSpan.FromDays(1))));
        Assert.Equal(Now + 10_000, clamped.DueAt);
    }

    [Fact]
    public void When_the_schedule_is_used_up_the_delivery_is_given_up()
    {
        Assert.IsType<Decision.RetryAt>(Decide(Failed(), triesSoFar: 3));
        Assert.IsType<Decision.GiveUp>(Decide(Failed(), triesSoFar: 4));
    }

    [Fact]
    public void Failing_continuously_past_the_disable_window_disables_the_endpoint()
    {
        var since = Now - (long)(DisableAfter + TimeSpan.FromMinutes(1)).TotalMilliseconds;

        var decision = Assert.IsType<Decision.DisableEndpoint>(Decide(Failed(), triesSoFar: 2, failingSince: since));

        Assert.False(string.IsNullOrWhiteSpace(decision.Reason));
        // The delivery keeps its place in the schedule for when the endpoint is enabled again.
        Assert.InRange(decision.DueAt - Now, 300 * 800, 300 * 1200);
    }

    [Fact]
    public void Failing_exactly_for_the_window_disables_and_just_short_of_it_retries()
    {
        var exactly = Now - (long)DisableAfter.TotalMilliseconds;
        Assert.IsType<Decision.DisableEndpoint>(Decide(Failed(), failingSince: exactly));
        Assert.IsType<Decision.RetryAt>(Decide(Failed(), failingSince: exactly + 1));
    }

    [Fact]
    public void A_first_failure_does_not_count_as_failing_for_long()
    {
        Assert.IsType<Decision.RetryAt>(Decide(Failed(), failingSince: null));
    }

    [Fact]
    public void Past_the_window_with_the_schedule_used_up_the_endpoint_is_still_disabled()
    {
        var since = Now - (long)TimeSpan.FromDays(6).TotalMilliseconds;
        var decision = Assert.IsType<Decision.DisableEndpoint>(Decide(Failed(), triesSoFar: 4, failingSince: since));
        Assert.Equal(Now, decision.DueAt);
    }
}
