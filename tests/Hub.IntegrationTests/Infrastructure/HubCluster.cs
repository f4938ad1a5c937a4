namespace Hub.IntegrationTests.Infrastructure;

/// <summary>
/// Everything one test class's Hub processes share: a temp folder with the SQLite file (WAL mode, which Hub sets
/// at start-up) and the processes' logs, a RabbitMQ virtual host of its own, optionally a Redis database of its
/// own, the admin key, a fake LLM and a webhook receiver. <see cref="StartAsync(string, string, IReadOnlyDictionary{string, string}?)"/>
/// adds a process with some roles; each gets its own port and its own LLM key (so the fake LLM can tell the
/// workers apart).
/// </summary>
public sealed class HubCluster : IAsyncDisposable
{
    private readonly List<HubProcess> _processes = [];
    private readonly Dictionary<string, string> _settings;

    private HubCluster(string directory, string vhost, string? redis, FakeLlm llm, WebhookReceiver receiver,
        IReadOnlyDictionary<string, string>? settings)
    {
        Directory = directory;
        Vhost = vhost;
        Redis = redis;
        Llm = llm;
        Receiver = receiver;
        DatabasePath = Path.Combine(directory, "hub.db");
        _settings = new Dictionary<string, string>
        {
            ["HUB_ADMIN_KEY"] = AdminKey,
            ["HUB_DATABASE"] = "sqlite",
            ["HUB_DATABASE_CONNECTION"] = $"Data Source={DatabasePath}",
            ["HUB_TRANSPORT"] = "rabbitmq",
            ["HUB_RABBITMQ"] = TestServices.AmqpUri(vhost),
            ["HUB_LLM_BASE_URL"] = llm.BaseUrl,
            ["HUB_LLM_MODEL"] = "fake-model",
            ["HUB_LLM_RETRY_DELAY_MS"] = "100",
            ["HUB_WEBHOOK_ALLOW_PRIVATE"] = "true",
            ["HUB_WEBHOOK_POLL_MS"] = "100",
            // Quiet logs (they go to files), and the workstation GC: several processes share two cores.
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
            ["Logging__LogLevel__Hub"] = "Information",
            ["Logging__Console__FormatterName"] = "simple",
            // Timestamps, so that a log tail in a failure message can be laid next to the test's own timings.
            ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
            ["Logging__Console__FormatterOptions__UseUtcTimestamp"] = "true",
            ["DOTNET_gcServer"] = "0",
        };
        if (redis is not null)
        {
            _settings["HUB_REDIS"] = redis;
            // Pub/sub channels are not per database: a prefix of its own keeps this cluster's replies, inbox
            // pushes and cache evictions away from any other Hub on the same Redis (and shows the prefix works).
            _settings["HUB_REDIS_PREFIX"] = RedisPrefix;
        }
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) _settings[key] = value;
    }

    public string Directory { get; }
    public string DatabasePath { get; }
    public string Vhost { get; }
    public string? Redis { get; }
    public string RedisPrefix { get; } = $"hub-it-{Guid.NewGuid():N}"[..15] + ":";
    public string AdminKey { get; } = "admin-" + Guid.NewGuid().ToString("N");
    public FakeLlm Llm { get; }
    public WebhookReceiver Receiver { get; }
    public IReadOnlyList<HubProcess> Processes
    {
        get { lock (_processes) return [.. _processes]; }
    }

    /// <summary>Checks RabbitMQ and Redis (failing loudly when they are missing), then makes the shared pieces.</summary>
    public static async Task<HubCluster> CreateAsync(bool withRedis, IReadOnlyDictionary<string, string>? settings = null)
    {
        await TestServices.RequireAsync();
        var directory = System.IO.Directory.CreateTempSubdirectory("hub-it-").FullName;
        var vhost = await TestServices.CreateVhostAsync();
        var llm = await FakeLlm.StartAsync();
        var receiver = await WebhookReceiver.StartAsync();
        var redis = withRedis ? TestServices.RedisConnection(TestServices.PickRedisDatabase()) : null;
        return new HubCluster(directory, vhost, redis, llm, receiver, settings);
    }

    /// <summary>
    /// Starts one process with <paramref name="roles"/> and waits until it is ready. The cluster owns the process
    /// from before its start, so one whose start fails is ended with the rest (the start itself ends it first).
    /// </summary>
    public async Task<HubProcess> StartAsync(string name, string roles, IReadOnlyDictionary<string, string>? extra = null,
        TimeSpan? readyTimeout = null)
    {
        var environment = new Dictionary<string, string>(_settings)
        {
            ["HUB_ROLES"] = roles,
            ["HUB_LLM_API_KEY"] = LlmKeyOf(name),
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) environment[key] = value;
        var process = HubProcess.Create(name, environment, Directory);
        lock (_processes) _processes.Add(process);
        await process.StartAgainAsync(readyTimeout);
        return process;
    }

    /// <summary>Starts several processes at once (they migrate the shared store concurrently, as a real deployment would).</summary>
    public Task<HubProcess[]> StartAllAsync(params (string Name, string Roles)[] processes) =>
        Task.WhenAll(processes.Select(p => StartAsync(p.Name, p.Roles)));

    /// <summary>The key the process named <paramref name="name"/> sends to the fake LLM.</summary>
    public static string LlmKeyOf(string name) => "sk-" + name;

    public HubClient Admin(HubProcess process) => new(process, AdminKey);

    public string LogTails(int lines = 30) =>
        string.Join("\n", Processes.Select(p => $"--- {p} ---\n{p.LogTail(lines)}"));

    /// <summary>Ends every process first (each one even when another fails to end), then the shared pieces; the
    /// folder goes last, so no process is ever left running in a deleted folder. Safe to call twice.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        var failures = new List<Exception>();
        foreach (var process in Processes)
        {
            try { await process.DisposeAsync(); }
            catch (Exception e) { failures.Add(e); }
        }
        await Llm.DisposeAsync();
        await Receiver.DisposeAsync();
        await TestServices.DeleteVhostAsync(Vhost);
        if (failures.Count > 0) throw new AggregateException("Some Hub processes could not be ended; their folder is kept: " + Directory, failures);
        if (Environment.GetEnvironmentVariable("HUB_TEST_KEEP_LOGS") is not { Length: > 0 })
        {
            try { System.IO.Directory.Delete(Directory, recursive: true); }
            catch (IOException) { /* a log still open: the OS temp cleaner gets it */ }
        }
    }

    private int _disposed;
}
