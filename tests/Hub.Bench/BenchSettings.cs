using System.Globalization;

namespace Hub.Bench;

/// <summary>Sizes of each scenario: <c>--quick</c> (under 3 minutes on 2 cores) or the full run.</summary>
public sealed record BenchSettings
{
    public bool Quick { get; init; }
    public int LatencyWarmup { get; init; }
    public int LatencyIterations { get; init; }
    public int WebhookMessages { get; init; }
    public int WebhookConcurrency { get; init; } = 64;
    public int DispatchDeliveries { get; init; }
    /// <summary>Deliveries the dispatcher sends to another hook first, so that the timed run meets warm code (the bare loop warms up too).</summary>
    public int DispatchWarmup { get; init; }
    /// <summary>Bots (endpoints) the stored deliveries are spread over: HUB_WEBHOOK_ENDPOINT_CONCURRENCY (4) × 16 = HUB_DISPATCHER_CONCURRENCY (64).</summary>
    public int DispatchEndpoints { get; init; } = 16;
    /// <summary>The bare loop's concurrency: what the dispatcher can have in flight (64 by default).</summary>
    public int DispatchConcurrency { get; init; } = 64;
    public int StormMessages { get; init; }
    public string StormSchedule { get; init; } = "50ms,100ms,200ms,400ms,800ms," + string.Join(',', Enumerable.Repeat("1s", 15));
    public int SseStreams { get; init; }
    /// <summary>telemetry: how many times each of its three Hubs (off, metrics, otlp) is measured; the order reverses every other round.</summary>
    public int TelemetryRounds { get; init; }
    /// <summary>How long each throughput scenario waits for its last delivery; a slower Hub is reported with <c>completed: false</c> and the rate it reached.</summary>
    public TimeSpan WebhookDeadline { get; init; }
    public TimeSpan StormDeadline { get; init; }
    public TimeSpan DispatchDeadline { get; init; }
    /// <summary>webhook_e2e_rabbitmq's size and deadline (full: as webhook_e2e's; quick: smaller). <c>--webhook-messages</c> sets both sizes.</summary>
    public int RabbitMqWebhookMessages { get; init; }
    public TimeSpan RabbitMqWebhookDeadline { get; init; }
    /// <summary>The broker for webhook_e2e_rabbitmq: user, password, host and port (its vhost is replaced by a fresh one).</summary>
    public Uri RabbitMq { get; init; } = new("amqp://guest:guest@127.0.0.1:5672/");
    /// <summary>The Redis server (host:port) for webhook_e2e_rabbitmq; the bench picks an empty database on it.</summary>
    public string Redis { get; init; } = "127.0.0.1:6379";

    public string? JsonPath { get; init; }
    public bool BuildHub { get; init; } = true;
    public string? HubDll { get; init; }
    /// <summary>Extra settings for every Hub the run starts (<c>--hub-env NAME=VALUE</c>, repeatable), for experiments.</summary>
    public Dictionary<string, string?> HubEnv { get; init; } = new();
    public bool KeepWorkDir { get; init; }
    public HashSet<string>? Only { get; init; }

    public static BenchSettings Quick_ => new()
    {
        Quick = true,
        // Hub's hot paths are still being compiled to their final tier (tiered JIT with dynamic PGO) for several
        // seconds after start, and that JIT work runs on the same two cores: warm up long enough to time steady
        // state, as a long-running server is.
        LatencyWarmup = 1_000,
        LatencyIterations = 300,
        WebhookMessages = 2_000,
        // Half of webhook_e2e's, with a shorter deadline: the three processes, the vhost and their start-up
        // (about 10 s more) have to fit in the 3 minutes too.
        RabbitMqWebhookMessages = 1_000,
        // The dispatcher's code is still being tiered up (JIT) for a few seconds after start: a long warm-up, then
        // enough deliveries that the timed window is not a fraction of a second.
        DispatchDeliveries = 20_000,
        DispatchWarmup = 30_000,
        StormMessages = 500,
        SseStreams = 1_000,
        TelemetryRounds = 2,
        // Bounds that keep --quick under 3 minutes even when Hub is slow.
        WebhookDeadline = TimeSpan.FromSeconds(25),
        RabbitMqWebhookDeadline = TimeSpan.FromSeconds(15),
        StormDeadline = TimeSpan.FromSeconds(30),
        DispatchDeadline = TimeSpan.FromSeconds(20),
    };

    public static BenchSettings Full => new()
    {
        LatencyWarmup = 2_000,
        LatencyIterations = 2_000,
        WebhookMessages = 10_000,
        RabbitMqWebhookMessages = 10_000,
        DispatchDeliveries = 100_000,
        DispatchWarmup = 60_000,
        StormMessages = 2_000,
        SseStreams = 5_000,
        TelemetryRounds = 3,
        WebhookDeadline = TimeSpan.FromSeconds(300),
        RabbitMqWebhookDeadline = TimeSpan.FromSeconds(300),
        StormDeadline = TimeSpan.FromSeconds(300),
        DispatchDeadline = TimeSpan.FromSeconds(300),
    };

    /// <summary>
    /// A default run measures every scenario but <c>telemetry</c>: that one starts six Hubs or more and would push
    /// <c>--quick</c> past its 3 minutes, so it runs only when named in <c>--only</c>.
    /// </summary>
    public bool Runs(string scenario) => Only is null ? !OnlyWhenNamed.Contains(scenario) : Only.Contains(scenario);

    public static readonly string[] OnlyWhenNamed = ["telemetry"];

    /// <summary>Named in <c>--only</c>: a scenario that cannot run then fails the run instead of being skipped.</summary>
    public bool Requested(string scenario) => Only?.Contains(scenario) == true;

    public static BenchSettings Parse(string[] args)
    {
        var quick = args.Contains("--quick");
        var settings = quick ? Quick_ : Full;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int NextInt() => int.Parse(Next(), CultureInfo.InvariantCulture);
            settings = args[i] switch
            {
                "--quick" => settings,
                "--json" => settings with { JsonPath = Next() },
                "--no-build-hub" => settings with { BuildHub = false },
                "--hub-dll" => settings with { HubDll = Path.GetFullPath(Next()) },
                "--hub-env" => settings with { HubEnv = WithSetting(settings.HubEnv, Next()) },
                "--keep" => settings with { KeepWorkDir = true },
                "--only" => settings with { Only = Scenarios(Next()) },
                "--sse-streams" => settings with { SseStreams = NextInt() },
                "--webhook-messages" => WithWebhookMessages(settings, NextInt()),
                "--rabbitmq" => settings with { RabbitMq = AmqpUri(Next()) },
                "--redis" => settings with { Redis = HostPort(Next()) },
                "--dispatch-deliveries" => settings with { DispatchDeliveries = NextInt() },
                "--storm-messages" => settings with { StormMessages = NextInt() },
                "--latency-iterations" => settings with { LatencyIterations = NextInt() },
                "--telemetry-rounds" => settings with { TelemetryRounds = Positive("--telemetry-rounds", NextInt()) },
                _ => throw new ArgumentException($"Unknown option {args[i]}.\n{Usage}"),
            };
        }
        return settings;
    }

    /// <summary>What <c>--only</c> accepts: a misspelt name is an error, not a run that silently measures nothing.</summary>
    public static readonly string[] ScenarioNames =
        ["latency", "blocking", "streaming", "webhook_e2e", "webhook_e2e_rabbitmq", "retry_storm", "dispatch", "sse_hold", "telemetry"];

    private static HashSet<string> Scenarios(string list)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        var unknown = names.Except(ScenarioNames).ToList();
        return unknown.Count == 0 && names.Count > 0 ? names
            : throw new ArgumentException($"--only takes some of {string.Join(", ", ScenarioNames)}; not {(names.Count == 0 ? "an empty list" : string.Join(", ", unknown))}.");
    }

    /// <summary>Both end-to-end scenarios take the size, so that they stay comparable.</summary>
    private static BenchSettings WithWebhookMessages(BenchSettings settings, int messages) =>
        settings with { WebhookMessages = messages, RabbitMqWebhookMessages = messages };

    private static int Positive(string option, int value) =>
        value > 0 ? value : throw new ArgumentException($"{option} takes a number above 0, not {value}.");

    private static Uri AmqpUri(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" && uri.Host.Length > 0
            ? uri : throw new ArgumentException($"--rabbitmq takes amqp://user:pass@host:port/, not '{value}'.");

    private static string HostPort(string value)
    {
        Infrastructure.RedisDatabase.Parse(value);
        return value;
    }

    private static Dictionary<string, string?> WithSetting(Dictionary<string, string?> settings, string pair)
    {
        var parts = pair.Split('=', 2);
        if (parts.Length != 2 || parts[0].Length == 0) throw new ArgumentException($"--hub-env takes NAME=VALUE, not '{pair}'.");
        return new Dictionary<string, string?>(settings) { [parts[0]] = parts[1] };
    }

    public const string Usage = """
        usage: dotnet run -c Release --project tests/Hub.Bench -- [--quick] [--json FILE] [options]
          --quick                 small sizes: finishes in under 3 minutes on 2 cores
          --json FILE             also write the results as JSON
          --only a,b              run only these scenarios: blocking,streaming (run together as latency), webhook_e2e,
                                  webhook_e2e_rabbitmq, retry_storm, dispatch, sse_hold, telemetry (telemetry runs only
                                  when named here: CPU per webhook message with telemetry off, /metrics on, OTLP on)
          --sse-streams N         streams to hold open (quick 1000, full 5000)
          --webhook-messages N, --dispatch-deliveries N, --storm-messages N, --latency-iterations N
          --telemetry-rounds N    rounds of telemetry's three Hubs (quick 2, full 3)
          --rabbitmq URI          broker for webhook_e2e_rabbitmq (default amqp://guest:guest@127.0.0.1:5672/; a fresh
                                  vhost is made on it with rabbitmqctl, so it must be this machine's node)
          --redis HOST:PORT       Redis for webhook_e2e_rabbitmq (default 127.0.0.1:6379; an empty database of it is used)
          --no-build-hub          use the existing services/Hub.Api/bin/Release build
          --hub-dll PATH          run this Hub.Api.dll instead (e.g. a build of another commit)
          --hub-env NAME=VALUE    an extra setting for every Hub started (repeatable), e.g. HUB_WEBHOOK_ENDPOINT_CONCURRENCY=64
          --keep                  keep the temp folder (databases, hub and fakes logs)
        """;
}
