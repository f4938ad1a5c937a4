using System.Text.Json.Nodes;
using Hub.Bench.Infrastructure;
using static Hub.Bench.Scenarios.Webhooks;

namespace Hub.Bench.Scenarios;

/// <summary>
/// <c>webhook_e2e_rabbitmq</c>: <c>webhook_e2e</c> on Hub in its production shape. Three processes share one
/// SQLite file, one per role (<c>HUB_ROLES=api</c>, <c>ai-worker</c>, <c>dispatcher</c>), and talk over RabbitMQ
/// (a vhost of their own, made for the run and deleted after it) with Redis for the reply route and the rate
/// limits (a database of their own).
/// </summary>
public static class WebhooksRabbitMq
{
    public const string Name = "webhook_e2e_rabbitmq";
    private static readonly string[] Roles = ["api", "ai-worker", "dispatcher"];

    /// <summary>Null when RabbitMQ and Redis can be used; otherwise why not (for the report or the error).</summary>
    public static async Task<string?> UnavailableAsync(BenchSettings settings) =>
        await RabbitMqVhost.UnavailableAsync(settings.RabbitMq) ?? await RedisDatabase.UnavailableAsync(settings.Redis);

    public static async Task<JsonObject> RunAsync(BenchRun run, string database)
    {
        var settings = run.Settings;
        var cleanup = new List<string>();
        JsonObject result;
        await using (var redis = await RedisDatabase.OpenEmptyAsync(settings.Redis))
        {
            var vhost = await RabbitMqVhost.CreateAsync(settings.RabbitMq);
            try
            {
                result = await MeasureAsync(run, database, vhost, redis);
                result["vhost"] = vhost.Name;
                result["redis_database"] = redis.Database;
            }
            finally
            {
                // The Hubs are stopped by now: nothing writes to the vhost or the database any more.
                try { await vhost.DisposeAsync(); }
                catch (InvalidOperationException e) { cleanup.Add($"vhost {vhost.Name} not deleted: {e.Message}"); }
                try
                {
                    var left = await redis.DeleteHubKeysAsync();
                    if (left > 0)
                        cleanup.Add($"Redis database {redis.Database} still holds {left} keys that are not Hub's");
                }
                catch (Exception e) when (e is IOException or InvalidOperationException)
                {
                    cleanup.Add($"Hub's keys in Redis database {redis.Database} not deleted: {e.Message}");
                }
                foreach (var problem in cleanup) Console.Error.WriteLine($"  warning: {problem}");
            }
        }
        if (cleanup.Count > 0) result["cleanup_warnings"] = new JsonArray(cleanup.Select(c => (JsonNode)c).ToArray());
        return result;
    }

    private static async Task<JsonObject> MeasureAsync(BenchRun run, string database, RabbitMqVhost vhost, RedisDatabase redis)
    {
        var settings = run.Settings;
        var startUnixMs = UnixMs();
        // Started together, as a deployment starts them: they migrate the fresh file concurrently.
        var starting = Roles.Select(role => run.StartHubAsync(database, new Dictionary<string, string?>
        {
            ["HUB_ROLES"] = role,
            ["HUB_TRANSPORT"] = "rabbitmq",
            ["HUB_RABBITMQ"] = vhost.AmqpUri,
            ["HUB_REDIS"] = redis.Connection,
        }, $"hub-rabbitmq-{role}.log")).ToArray();
        try
        {
            var hubs = await Task.WhenAll(starting);
            var startSeconds = (UnixMs() - startUnixMs) / 1000;
            Console.WriteLine($"  vhost {vhost.Name}, Redis database {redis.Database}; the 3 processes ready in {startSeconds:0.0} s");
            using var client = HubApi.NewClient();
            var api = new HubApi(client, hubs[0].Url);
            var result = await EndToEndAsync(run, Roles.Select((role, i) => new HubRole(role, hubs[i])).ToArray(), api,
                "e2e-rabbitmq", settings.RabbitMqWebhookMessages, settings.RabbitMqWebhookDeadline);
            result["processes"] = hubs.Length;
            result["transport"] = "rabbitmq";
            result["processes_ready_seconds"] = Stats.Round(startSeconds, 3);
            return result;
        }
        finally
        {
            // Whichever started (one may have failed to, or still be starting when another failed), stopped together.
            await Task.WhenAll(starting.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
            await Task.WhenAll(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result.DisposeAsync().AsTask()));
        }
    }
}
