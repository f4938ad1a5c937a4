using System.Diagnostics;

namespace Hub.Bench.Infrastructure;

public static class Stats
{
    /// <summary>Nearest-rank percentile, in the samples' unit; NaN for no samples.</summary>
    public static double Percentile(IReadOnlyCollection<double> samples, double p)
    {
        if (samples.Count == 0) return double.NaN;
        var sorted = samples.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Ms(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;

    public static double Round(double value, int digits = 2) => double.IsFinite(value) ? Math.Round(value, digits) : value;

    /// <summary>Polls <paramref name="done"/> every <paramref name="every"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> WaitUntilAsync(Func<Task<bool>> done, TimeSpan timeout, TimeSpan? every = null)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await done()) return true;
            if (watch.Elapsed >= timeout) return false;
            await Task.Delay(every ?? TimeSpan.FromMilliseconds(10));
        }
    }
}
