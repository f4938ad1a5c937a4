using System.Globalization;

namespace Hub.Dispatcher.Delivery;

/// <summary>
/// When the next try of a failed delivery is due: the configured step for this try with ±20 % jitter
/// (so a receiver that comes back is not hit by every delivery at once), or the receiver's
/// <c>Retry-After</c> clamped to 1×–2× the step. Null once the schedule is used up.
/// </summary>
public sealed class RetrySchedule(IReadOnlyList<TimeSpan> steps)
{
    public const double Jitter = 0.2;

    public IReadOnlyList<TimeSpan> Steps { get; } = steps;

    /// <param name="triesSoFar">Tries made, including the one that just failed (1 after the first).</param>
    public TimeSpan? NextDelay(int triesSoFar, TimeSpan? retryAfter, Random random)
    {
        if (triesSoFar < 1 || triesSoFar > Steps.Count) return null;
        var step = Steps[triesSoFar - 1];
        if (retryAfter is { } after && after > TimeSpan.Zero)
            return after < step ? step : after > step * 2 ? step * 2 : after;
        var factor = 1 + (random.NextDouble() * 2 - 1) * Jitter;
        return TimeSpan.FromTicks((long)(step.Ticks * factor));
    }

    /// <summary>Parses "5s,5m,30m,2h" (units ms, s, m, h, d).</summary>
    public static RetrySchedule Parse(string text)
    {
        var steps = new List<TimeSpan>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var unit = part.EndsWith("ms", StringComparison.Ordinal) ? "ms" : part[^1..];
            var number = part[..^unit.Length];
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0)
                throw new FormatException($"'{part}' in the webhook retry schedule is not a duration such as 5s or 10m.");
            steps.Add(unit switch
            {
                "ms" => TimeSpan.FromMilliseconds(value),
                "s" => TimeSpan.FromSeconds(value),
                "m" => TimeSpan.FromMinutes(value),
                "h" => TimeSpan.FromHours(value),
                "d" => TimeSpan.FromDays(value),
                _ => throw new FormatException($"'{part}' in the webhook retry schedule has no unit (ms, s, m, h, d)."),
            });
        }
        return new RetrySchedule(steps);
    }
}
