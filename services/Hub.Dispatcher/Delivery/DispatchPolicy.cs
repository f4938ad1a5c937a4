namespace Hub.Dispatcher.Delivery;

/// <summary>What happens to a delivery after a try (Svix's <c>process_endpoint_failure</c>, in one place).</summary>
public abstract record Decision
{
    public sealed record Delivered : Decision;
    public sealed record RetryAt(long DueAt) : Decision;
    /// <summary>The schedule is used up: the delivery is <c>failed</c> (a manual retry or recover can revive it).</summary>
    public sealed record GiveUp : Decision;
    /// <summary>The endpoint is switched off; its deliveries wait (not dropped) until it is re-enabled.</summary>
    public sealed record DisableEndpoint(string Reason, long DueAt) : Decision;
}

public static class DispatchPolicy
{
    /// <summary>
    /// 2xx: delivered. 410 Gone: the receiver asked to stop, so the endpoint is disabled at once and this
    /// delivery waits with the others. Anything else: the next step of the schedule, unless the endpoint
    /// has failed without a success for <paramref name="disableAfter"/>, which disables it too.
    /// </summary>
    public static Decision Decide(AttemptResult result, int triesSoFar, long? failingSince, long now,
        RetrySchedule schedule, TimeSpan disableAfter, Random random)
    {
        if (result.Outcome == AttemptOutcome.Succeeded) return new Decision.Delivered();
        if (result.Outcome == AttemptOutcome.Gone) return new Decision.DisableEndpoint("the endpoint answered 410 Gone", now);

        var delay = schedule.NextDelay(triesSoFar, result.RetryAfter, random);
        var failingFor = TimeSpan.FromMilliseconds(now - (failingSince ?? now));
        if (failingFor >= disableAfter)
            return new Decision.DisableEndpoint(
                $"failing continuously since {DateTimeOffset.FromUnixTimeMilliseconds(failingSince!.Value):u}",
                now + (long)(delay ?? TimeSpan.Zero).TotalMilliseconds);
        return delay is { } d ? new Decision.RetryAt(now + (long)d.TotalMilliseconds) : new Decision.GiveUp();
    }
}
