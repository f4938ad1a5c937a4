using System.Globalization;
using System.Text.RegularExpressions;

namespace Hub.FunctionalTests.Telemetry;

/// <summary>One <c>GET /metrics</c> read as Prometheus' text format: every sample with its labels.</summary>
public sealed partial class PrometheusScrape
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    private PrometheusScrape(string text, IReadOnlyList<Sample> samples)
    {
        Text = text;
        Samples = samples;
    }

    public string Text { get; }
    public IReadOnlyList<Sample> Samples { get; }

    public static async Task<PrometheusScrape> ReadAsync(HttpClient client)
    {
        var response = await client.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET /metrics → {(int)response.StatusCode}: {text}");
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
        return Parse(text);
    }

    public static PrometheusScrape Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"Not a Prometheus sample line: {line}");
            var labels = LabelPair().Matches(match.Groups["labels"].Value)
                .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Replace("\\\"", "\"").Replace("\\\\", "\\"));
            samples.Add(new Sample(match.Groups["name"].Value, labels, ParseValue(match.Groups["value"].Value)));
        }
        return new PrometheusScrape(text, samples);
    }

    /// <summary>The sum of the samples named <paramref name="name"/> whose labels include every one given (0 when none).</summary>
    public double Value(string name, params (string Key, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    public bool Has(string name) => Samples.Any(s => s.Name == name);

    private static double ParseValue(string value) => value switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(value, CultureInfo.InvariantCulture),
    };

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
