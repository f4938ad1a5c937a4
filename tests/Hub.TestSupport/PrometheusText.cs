using System.Globalization;
using System.Text.RegularExpressions;

namespace Hub.TestSupport;

/// <summary>One sample of a Prometheus scrape: <c>name{label="value",…} value [timestamp]</c>.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public override string ToString() =>
        $"{Name}{{{string.Join(",", Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {Value.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// The Prometheus text exposition format, read back: comments skipped, each sample's name, labels and value.
/// The exporter adds labels of its own (<c>otel_scope_name</c> and the like), so a series is found by a
/// subset of its labels.
/// </summary>
public sealed partial class PrometheusText(IReadOnlyList<PrometheusSample> samples, string text)
{
    public IReadOnlyList<PrometheusSample> Samples { get; } = samples;

    public string Text { get; } = text;

    public static PrometheusText Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var match = SampleLine().Match(line);
            if (!match.Success) throw new FormatException($"not a Prometheus sample line: {line}");
            var labels = Label().Matches(match.Groups["labels"].Value).ToDictionary(
                l => l.Groups["key"].Value,
                l => Regex.Unescape(l.Groups["value"].Value));
            samples.Add(new PrometheusSample(match.Groups["name"].Value, labels, ParseValue(match.Groups["value"].Value)));
        }
        return new PrometheusText(samples, text);
    }

    /// <summary>The samples named <paramref name="name"/> whose labels include every one of <paramref name="labels"/>.</summary>
    public IEnumerable<PrometheusSample> Find(string name, params (string Key, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));

    /// <summary>The sum of <see cref="Find"/>'s values, or null when no such series is there (yet).</summary>
    public double? Value(string name, params (string Key, string Value)[] labels)
    {
        var found = Find(name, labels).ToList();
        return found.Count == 0 ? null : found.Sum(s => s.Value);
    }

    /// <summary>As <see cref="Value"/>, with 0 for a series not there (a counter that has not moved yet).</summary>
    public double Total(string name, params (string Key, string Value)[] labels) => Value(name, labels) ?? 0;

    private static double ParseValue(string value) => value switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+-?\d+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\.|[^"\\])*)",?""")]
    private static partial Regex Label();
}
