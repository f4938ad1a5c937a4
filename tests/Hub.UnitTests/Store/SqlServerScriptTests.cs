using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Reflection;
using System.Reflection.Emit;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hub.Core.Data;
using Hub.FunctionalTests.Inbox;
using Hub.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.SqlServer.TransactSql.ScriptDom;
using Xunit.Abstractions;

namespace Hub.UnitTests.Store;

/// <summary>
/// No SQL Server runs here, so this is the check that the SQL Server path is at least valid T-SQL: every
/// migration, and every statement the features run, as <see cref="SqlServerDialect"/> renders it, parses
/// with ScriptDom's SQL Server 2022 parser. The feature statements are not listed by hand: the whole hub
/// runs a workload on SQLite through <see cref="RecordingDialect"/>, which writes down the SQL Server twin
/// of every statement executed, and the test checks that every Hub type holding SQL ran some of it.
/// </summary>
public sealed class SqlServerScriptTests(ITestOutputHelper output)
{
    private static IList<ParseError> Parse(string sql)
    {
        var parser = new TSql160Parser(initialQuotedIdentifiers: true);
        parser.Parse(new StringReader(sql), out var errors);
        return errors;
    }

    private static string Describe(IEnumerable<ParseError> errors) =>
        string.Join("; ", errors.Select(e => $"line {e.Line} col {e.Column}: {e.Message}"));

    [Fact]
    public void Every_SQL_Server_migration_parses()
    {
        var scripts = Migrator.Scripts("sqlserver");
        Assert.True(scripts.Count >= 3, "the SQL Server migrations are embedded");
        Assert.Equal(Migrator.Scripts("sqlite").Select(s => s.Version), scripts.Select(s => s.Version));
        foreach (var (_, name, sql) in scripts)
            Assert.True(Parse(sql) is { Count: 0 }, $"{name}: {Describe(Parse(sql))}");
    }

    [Fact]
    public void The_SQL_Server_dialects_own_statements_parse()
    {
        var dialect = new SqlServerDialect();
        foreach (var sql in new[]
                 {
                     SqlServerDialect.CreateDatabase, SqlServerDialect.EnableReadCommittedSnapshot, SqlServerDialect.GetMigrationLock,
                     dialect.CreateMigrationsTable,
                 })
            Assert.True(Parse(sql) is { Count: 0 }, $"{sql}: {Describe(Parse(sql))}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void A_granted_migration_lock_passes(int result) => SqlServerDialect.CheckAppLock(result);

    // Before issue 10 the code ran sp_getapplock with ExecuteNonQuery and never looked at its result: a
    // timed-out lock (-1) went on to migrate next to the process holding it.
    [Theory]
    [InlineData(-1, "timed out")]
    [InlineData(-2, "cancelled")]
    [InlineData(-3, "deadlock")]
    [InlineData(-999, "refused")]
    public void A_refused_migration_lock_stops_the_migration(int result, string meaning)
    {
        var e = Assert.Throws<InvalidOperationException>(() => SqlServerDialect.CheckAppLock(result));
        Assert.Contains(meaning, e.Message);
    }

    [Fact]
    public async Task Every_statement_the_features_run_parses_as_SQL_Server_renders_it()
    {
        var recorder = new RecordingDialect();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using (var receiver = await Receiver.StartAsync())
        await using (var hub = new RecordingHub(recorder))
            await RunWorkloadAsync(hub, receiver);

        output.WriteLine($"Workload: {clock.ElapsedMilliseconds} ms.");
        var statements = recorder.Statements();
        var failures = statements
            .Select(s => (s, errors: Parse(s.SqlServerText)))
            .Where(x => x.errors.Count > 0)
            .Select(x => $"[{x.s.Owner}] {Describe(x.errors)}\n{x.s.SqlServerText}")
            .ToList();
        var distinct = statements.Select(s => s.SqlServerText).Distinct().Count();
        output.WriteLine($"Parsed {distinct} distinct statements ({statements.Count} statement-owner pairs), {failures.Count} with errors.");
        foreach (var group in statements.GroupBy(s => s.Owner).OrderBy(g => g.Key))
            output.WriteLine($"  {group.Key}: {group.Count()}");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));

        // Every statement the SQL Server dialect contributes text to was rendered at least once.
        foreach (var fragment in new[] { "WITH (UPDLOCK, HOLDLOCK, ROWLOCK)", "OUTPUT inserted.", "OFFSET 0 ROWS FETCH NEXT", "MIN_ACTIVE_ROWVERSION()",
                     "HASHBYTES('SHA2_256'", "COUNT_BIG(*)", "SET created_rv = rv" })
            Assert.Contains(statements, s => s.SqlServerText.Contains(fragment, StringComparison.Ordinal));

        // Coverage: every Hub type whose code holds SQL text ran at least one statement in the workload.
        var owners = statements.Select(s => s.Owner).ToHashSet();
        var missing = TypesWithSql().Where(t => !owners.Contains(t)).ToList();
        Assert.True(missing.Count == 0, "The workload ran no SQL of: " + string.Join(", ", missing));
        Assert.True(distinct >= 70, $"only {distinct} distinct statements were captured");
    }

    /// <summary>The workload: every endpoint that touches the store, and the worker and dispatcher behind them.</summary>
    private static async Task RunWorkloadAsync(RecordingHub hub, Receiver receiver)
    {
        using var admin = hub.Client(RecordingHub.AdminKey);
        var created = await Ok(await admin.PostAsJsonAsync("/v1/bots", new
        {
            name = "Support",
            knowledge = new[] { "Orders ship within 2 business days." },
            fallback_text = "I don't know that yet.",
            handoff = new { keywords = new[] { "human" } },
            pricing = new { input_credits_per_1k = 0.5, output_credits_per_1k = 1.5 },
            webhook = new
            {
                url = receiver.Url,
                events = new[]
                {
                    "message.reply", "message.received", "conversation.created", "conversation.handoff_requested",
                    "conversation.assigned", "conversation.handed_back", "conversation.closed",
                },
            },
        }));
        var botId = created["id"]!.GetValue<string>();
        using var bot = hub.Client(created["api_key"]!.GetValue<string>());

        await Ok(await admin.GetAsync("/v1/bots"));
        await Ok(await admin.GetAsync($"/v1/bots/{botId}"));
        await Ok(await admin.PatchAsJsonAsync($"/v1/bots/{botId}", new { name = "Support desk" }));
        var key = await Ok(await admin.PostAsync($"/v1/bots/{botId}/keys", null));
        await Ok(await admin.GetAsync($"/v1/bots/{botId}/keys"));
        await Ok(await admin.DeleteAsync($"/v1/bots/{botId}/keys/{key["key_id"]!.GetValue<string>()}"));
        await Ok(await admin.PostAsync($"/v1/bots/{botId}/webhook/rotate-secret", null));

        // Conversations and messages in every mode.
        var conversations = new List<string>();
        for (var i = 0; i < 3; i++)
            conversations.Add((await Ok(await bot.PostAsJsonAsync("/v1/conversations", new { user_id = $"u-{i}" })))["conversation_id"]!.GetValue<string>());
        var conversation = conversations[0];
        await Ok(await Send(bot, conversation, "Where is my order?", "blocking"));
        await Ok(await Send(bot, conversation, "When do orders ship?", "blocking", "key-1"));
        await Ok(await Send(bot, conversation, "When do orders ship?", "blocking", "key-1"));
        var stream = await Ok(await Send(bot, conversation, "And returns?", "streaming"), json: false);
        Assert.Contains("message_end", stream.ToJsonString());
        await Ok(await Send(bot, conversation, "Tell me by webhook", "webhook"));
        await Ok(await bot.GetAsync($"/v1/conversations/{conversation}"));
        await Ok(await bot.GetAsync($"/v1/conversations/{conversation}/messages?limit=2"));
        var page = await Ok(await bot.GetAsync("/v1/conversations?limit=1&updated_after=2020-01-01T00:00:00Z"));
        await Ok(await bot.GetAsync($"/v1/conversations?limit=1&cursor={page["next_cursor"]!.GetValue<string>()}"));
        await Ok(await admin.GetAsync($"/v1/conversations?bot_id={botId}&status=bot"));

        // People: an agent, the inbox over REST and SignalR, typing, the conversation state machine.
        var agent = await Ok(await admin.PostAsJsonAsync("/v1/agents",
            new { email = "ada@example.com", name = "Ada", password = "correct horse battery", role = "agent", bot_ids = Array.Empty<string>() }));
        var agentId = agent["id"]!.GetValue<string>();
        await Ok(await admin.GetAsync("/v1/agents"));
        await Ok(await admin.GetAsync($"/v1/agents/{agentId}"));
        await Ok(await admin.PatchAsJsonAsync($"/v1/agents/{agentId}", new { name = "Ada L." }));
        using var anonymous = hub.Client(null);
        var login = await Ok(await anonymous.PostAsJsonAsync("/v1/auth/login", new { email = "ada@example.com", password = "correct horse battery" }));
        var token = login["access_token"]!.GetValue<string>();
        using var person = hub.Client(token);
        await Ok(await person.GetAsync("/v1/auth/me"));

        await using (var inbox = await SignalRTestClient.ConnectAsync(hub.Server, token))
        {
            await Ok(await Send(bot, conversations[1], "I want a human", "blocking"));
            await Ok(await person.GetAsync("/v1/inbox/conversations?view=queue"));
            await inbox.InvokeAsync("Claim", conversations[1]);
            await inbox.InvokeAsync("Typing", conversations[1]);
            await inbox.InvokeAsync("Reply", conversations[1], "Ada here, how can I help?");
            await inbox.WaitForAsync("messageCreated");
            await Ok(await Send(bot, conversations[1], "Thanks Ada", "blocking"));
            await inbox.InvokeAsync("HandBack", conversations[1]);
            await inbox.WaitForAsync("conversationUpdated");
        }
        await Ok(await bot.PostAsJsonAsync($"/v1/conversations/{conversations[2]}/handoff", new { reason = "asked for a person" }));
        await Ok(await person.PostAsync($"/v1/inbox/conversations/{conversations[2]}/claim", null));
        await Ok(await person.PostAsJsonAsync($"/v1/inbox/conversations/{conversations[2]}/reply", new { text = "On it." }));
        await Ok(await person.PostAsync($"/v1/inbox/conversations/{conversations[2]}/hand-back", null));
        await Ok(await person.GetAsync("/v1/inbox/conversations?view=mine"));
        await Ok(await person.PostAsync($"/v1/inbox/conversations/{conversations[2]}/close", null));
        await Ok(await bot.PostAsync($"/v1/conversations/{conversations[0]}/close", null));
        await Ok(await person.PostAsync("/v1/auth/logout", null));
        await Ok(await admin.DeleteAsync($"/v1/agents/{agentId}"));

        // Webhooks: wait until the dispatcher has delivered, then list, read, retry and recover.
        await receiver.WaitForAsync(8);
        var deliveries = await Ok(await bot.GetAsync("/v1/deliveries?limit=1"));
        await Ok(await bot.GetAsync($"/v1/deliveries?cursor={deliveries["next_cursor"]!.GetValue<string>()}&status=succeeded"));
        var deliveryId = deliveries["data"]![0]!["delivery_id"]!.GetValue<string>();
        await Ok(await bot.GetAsync($"/v1/deliveries/{deliveryId}"));
        await Ok(await bot.PostAsync($"/v1/deliveries/{deliveryId}/retry", null));
        await Ok(await bot.PostAsJsonAsync($"/v1/bots/{botId}/webhook/recover", new { since = "2020-01-01T00:00:00Z" }));
        receiver.Fail = true; // failed tries: the retry schedule's SQL
        await Ok(await bot.PostAsJsonAsync("/v1/conversations", new { user_id = "u-late" }));
        await receiver.WaitForFailureAsync();

        await Ok(await bot.GetAsync("/v1/usage"));
        await Ok(await admin.GetAsync($"/v1/usage?bot_id={botId}&from=2020-01-01&group_by=day"));
        await Ok(await hub.Client(null).GetAsync("/readyz"));
        // Paths an HTTP run seldom takes: a lease given back, a failed reply, the model asking for people,
        // a claim of a message that is gone, deliveries given back untried, the start-up sweep.
        var replies = hub.Services.GetRequiredService<Hub.AiWorker.Replies.ReplyStore>();
        await replies.ReleaseAsync("msg_gone");
        await replies.MarkFailedAsync("msg_gone", "llm_error", default);
        await replies.ClaimAsync("msg_gone", TimeSpan.FromMinutes(1), default);
        await replies.HandOffAsync(new Hub.Core.Messages.MessageRecord { Id = "msg_gone", ConversationId = conversations[1], BotId = botId }, "requested by the model", default);
        await hub.Services.GetRequiredService<Hub.Dispatcher.Delivery.DeliveryStore>().ReleaseAsync(["dlv_gone"]);
        await hub.Services.GetRequiredService<Hub.Dispatcher.Delivery.DeliveryStore>().CountPendingAsync(default);
        await hub.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>()
            .OfType<Hub.AiWorker.Replies.PendingReplyRedriver>().Single().SweepAsync(everything: true, default);

        await Ok(await admin.DeleteAsync($"/v1/bots/{botId}"));

        // A start with no HUB_ADMIN_KEY generates the admin key and stores its hash (here on the same store).
        var options = Microsoft.Extensions.Options.Options.Create(new Hub.Core.Hosting.HubOptions { AdminKey = null });
        await new Hub.Api.Auth.AdminKey(options, hub.Services.GetRequiredService<HubDb>(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Hub.Api.Auth.AdminKey>.Instance).StartAsync(default);
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, string conversationId, string content, string mode, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/conversations/{conversationId}/messages")
        {
            Content = JsonContent.Create(new { content, response_mode = mode }),
        };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request);
    }

    private static async Task<JsonObject> Ok(HttpResponseMessage response, bool json = true)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode}: {body}");
        if (!json) return new JsonObject { ["text"] = body };
        return body.Length == 0 ? new JsonObject() : JsonNode.Parse(body) as JsonObject ?? new JsonObject();
    }

    /// <summary>
    /// The Hub types (outermost, compiler-made nested types folded into them) whose IL loads a string that
    /// reads as SQL, outside the store plumbing (Data: its SQL is the dialect's and the migrator's, checked above).
    /// </summary>
    private static IReadOnlyList<string> TypesWithSql()
    {
        var sql = new Regex(@"\b(SELECT\s.+\sFROM|INSERT INTO|DELETE FROM|UPDATE\s+\w+\s+SET)\b", RegexOptions.Singleline);
        var assemblies = new[]
        {
            typeof(HubDb).Assembly, typeof(Hub.Api.Messages.MessageIntake).Assembly,
            typeof(Hub.AiWorker.Replies.ReplyStore).Assembly, typeof(Hub.Dispatcher.Delivery.DeliveryStore).Assembly,
        };
        var owners = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            var outer = type;
            while (outer.DeclaringType is not null) outer = outer.DeclaringType;
            if (outer.Namespace == typeof(HubDb).Namespace) continue;
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            var methods = type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all));
            if (methods.Any(m => Strings(m).Any(s => sql.IsMatch(s)))) owners.Add(outer.FullName!);
        }
        return owners.ToList();
    }

    /// <summary>The string literals a method loads (<c>ldstr</c>).</summary>
    private static IEnumerable<string> Strings(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null) yield break;
        var ldstr = OpCodes.Ldstr.Value;
        for (var i = 0; i + 4 < il.Length; i++)
        {
            if (il[i] != ldstr) continue;
            string? value;
            try { value = method.Module.ResolveString(BitConverter.ToInt32(il, i + 1)); }
            catch (ArgumentException) { continue; } // a 0x72 byte that was an operand, not the opcode
            if (value is not null) yield return value;
        }
    }

    /// <summary>A webhook endpoint on loopback that answers 200 (or 500 once <see cref="Fail"/> is set) and counts.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly Microsoft.AspNetCore.Builder.WebApplication _app;
        private int _received;
        private readonly TaskCompletionSource _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private Receiver(Microsoft.AspNetCore.Builder.WebApplication app) => _app = app;
        public string Url { get; private set; } = "";
        public bool Fail { get; set; }

        public static async Task<Receiver> StartAsync()
        {
            var app = LoopbackServer.Create();
            var receiver = new Receiver(app);
            Microsoft.AspNetCore.Builder.RunExtensions.Run(app, context =>
            {
                Interlocked.Increment(ref receiver._received);
                if (!receiver.Fail) return Task.CompletedTask;
                receiver._failed.TrySetResult();
                context.Response.StatusCode = 500;
                return Task.CompletedTask;
            });
            receiver.Url = new Uri(await LoopbackServer.StartAsync(app), "hook").ToString();
            return receiver;
        }

        public async Task WaitForAsync(int count)
        {
            var giveUp = DateTime.UtcNow.AddSeconds(30);
            while (Volatile.Read(ref _received) < count && DateTime.UtcNow < giveUp) await Task.Delay(50);
            Assert.True(Volatile.Read(ref _received) >= count, $"only {_received} webhooks arrived");
        }

        public Task WaitForFailureAsync() => _failed.Task.WaitAsync(TimeSpan.FromSeconds(30));

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

/// <summary>The whole hub in-process on a temp SQLite file, its store seen through <see cref="RecordingDialect"/>.</summary>
internal sealed class RecordingHub(RecordingDialect dialect) : WebApplicationFactory<Program>
{
    public const string AdminKey = "recording-admin-key";
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"hub-record-{Guid.NewGuid():N}.db");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("HUB_ADMIN_KEY", AdminKey);
        builder.UseSetting("HUB_DATABASE", "sqlite");
        builder.UseSetting("HUB_DATABASE_CONNECTION", $"Data Source={_path}");
        builder.UseSetting("HUB_WEBHOOK_ALLOW_PRIVATE", "true");
        builder.UseSetting("HUB_RATE_LIMIT_PER_SECOND", "100000");
        builder.UseSetting("HUB_RATE_LIMIT_BURST", "100000");
        builder.ConfigureTestServices(services => services.Replace(ServiceDescriptor.Singleton<SqlDialect>(dialect)));
    }

    public HttpClient Client(string? bearer)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = false });
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_path}"))
            Microsoft.Data.Sqlite.SqliteConnection.ClearPool(connection);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            try { File.Delete(_path + suffix); } catch (IOException) { }
    }
}
