using Hub.Dispatcher.Delivery;

namespace Hub.UnitTests.Webhooks;

public class RetryScheduleTests
{
    /// <summary>A Random that always draws the same number, to pin the jitter to its edges.</summary>
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
        protected override double Sample() => value;
    }

    [Fact]
    public void The_default_schedule_parses_to_the_contracts_steps()
    {
        var schedule = RetrySchedule.Parse(new Hub.Dispatcher.DispatcherOptions().RetrySchedule);

        Assert.Equal(
            [TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
             TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10)],
            schedule.Steps);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("1.5s", 1_500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("0s", 0)]
    public void Every_unit_parses(string text, double milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), Assert.Single(RetrySchedule.Parse(text).Steps));
    }

    [Fact]
    public void Steps_are_comma_separated_and_spaces_are_ignored()
    {
        Assert.Equal(
            [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(3)],
            RetrySchedule.Parse(" 100ms , 200ms,3s ").Steps);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("5x")]
    [InlineData("s")]
    [InlineData("-1s")]
    [InlineData("five seconds")]
    [InlineData("5s,oops")]
    public void A_step_that_is_not_a_duration_is_refused(string text)
    {
        Assert.Throws<FormatException>(() => RetrySchedule.Parse(text));
    }

    [Fact]
    public void Jitter_stays_within_twenty_percent_of_each_step_and_uses_the_whole_range()
    {
        var schedule = RetrySchedule.Parse("5s,5m,30m,2h");
        var random = new Random(12345);
        for (var tries = 1; tries <= schedule.Steps.Count; tries++)
        {
            var step = schedule.Steps[tries - 1];
            var factors = Enumerable.Range(0, 5_000)
                .Select(_ => schedule.NextDelay(tries, null, random)!.Value / step)
                .ToList();
            Assert.All(factors, f => Assert.InRange(f, 0.8, 1.2));
            // Really jittered, on both sides of the step, not a constant.
            Assert.True(factors.Min() < 0.82 && factors.Max() > 1.18, $"jitter for step {tries} spans only {factors.Min():0.000}–{factors.Max():0.000}");
        }
    }

    [Theory]
    [InlineData(0.0, 0.8)]
    [InlineData(0.5, 1.0)]
    [InlineData(0.999999, 1.2)]
    public void Jitter_edges_are_minus_and_plus_twenty_percent(double draw, double factor)
    {
        var delay = RetrySchedule.Parse("10s").NextDelay(1, null, new FixedRandom(draw))!.Value;
        Assert.Equal(10 * factor, delay.TotalSeconds, precision: 3);
    }

    [Theory]
    [InlineData(1, 10)]    // shorter than the step: the step
    [InlineData(10, 10)]
    [InlineData(15, 15)]   // within 1×–2×: as asked, no jitter
    [InlineData(20, 20)]
    [InlineData(3600, 20)] // longer: clamped to twice the step
    public void Retry_after_is_clamped_to_one_to_two_times_the_step(double retryAfterSeconds, double expectedSeconds)
    {
        var schedule = RetrySchedule.Parse("10s,1m");
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), schedule.NextDelay(1, TimeSpan.FromSeconds(retryAfterSeconds), new Random(1)));
    }

    [Fact]
    public void Retry_after_is_clamped_against_the_step_of_the_try_that_failed()
    {
        var schedule = RetrySchedule.Parse("10s,1m");
        Assert.Equal(TimeSpan.FromMinutes(1), schedule.NextDelay(2, TimeSpan.FromSeconds(5), new Random(1)));
        Assert.Equal(TimeSpan.FromMinutes(2), schedule.NextDelay(2, TimeSpan.FromHours(1), new Random(1)));
    }

    [Fact]
    public void A_zero_or_negative_retry_after_falls_back_to_the_jittered_step()
    {
        var schedule = RetrySchedule.Parse("10s");
        Assert.InRange(schedule.NextDelay(1, TimeSpan.Zero, new Random(1))!.Value.TotalSeconds, 8, 12);
        Assert.InRange(schedule.NextDelay(1, TimeSpan.FromSeconds(-30), new Random(1))!.Value.TotalSeconds, 8, 12);
    }

    [Fact]
    public void There_is_no_next_delay_after_the_last_step()
    {
        var schedule = RetrySchedule.Parse("100ms,200ms,300ms");
        Assert.NotNull(schedule.NextDelay(3, null, new Random(1)));
        Assert.Null(schedule.NextDelay(4, null, new Random(1)));
        Assert.Null(schedule.NextDelay(4, TimeSpan.FromSeconds(1), new Random(1)));
        Assert.Null(schedule.NextDelay(0, null, new Random(1)));
    }
}
