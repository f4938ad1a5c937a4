using Hub.IntegrationTests.Infrastructure;

namespace Hub.IntegrationTests;

/// <summary>
/// The suite ends every Hub process it starts, also those whose start fails: one that never gets ready is killed
/// before the start throws (it used to be left running, and outlived the suite in a deleted folder), and one that
/// exits at start-up is reaped. "Gone" means the operating system has no process with its id any more (a zombie
/// would still have one).
/// </summary>
public sealed class ProcessCleanupTests
{
    [Fact]
    public async Task A_process_that_never_gets_ready_is_ended_when_its_start_gives_up()
    {
        await using var cluster = await HubCluster.CreateAsync(withRedis: false);
        // A broker address where nothing listens: the process runs, but /readyz never says ready.
        var nowhere = new Dictionary<string, string> { ["HUB_RABBITMQ"] = $"amqp://guest:guest@127.0.0.1:{HubProcess.FreePort()}/nowhere" };

        var start = cluster.StartAsync("never-ready", "ai-worker", nowhere, readyTimeout: TimeSpan.FromSeconds(20));

        var failure = await Assert.ThrowsAsync<TimeoutException>(() => start);
        var process = Assert.Single(cluster.Processes);
        Assert.Contains("not ready within 20 s", failure.Message);
        Assert.Contains("==== killed (SIGKILL)", process.LogTail(5)); // it was running, and the failed start ended it
        Assert.False(HubProcess.Exists(process.ProcessId!.Value), $"pid {process.ProcessId} still exists after its start failed");
        Assert.False(process.IsUp);
    }

    [Fact]
    public async Task A_process_that_exits_at_start_up_is_reaped()
    {
        await using var cluster = await HubCluster.CreateAsync(withRedis: false);
        // Options are validated at start: a schedule that is not one stops the process at once.
        var bad = new Dictionary<string, string> { ["HUB_WEBHOOK_RETRY_SCHEDULE"] = "soon, later" };

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => cluster.StartAsync("bad-setting", "dispatcher", bad));

        var process = Assert.Single(cluster.Processes);
        Assert.Contains("exited", failure.Message);
        Assert.False(HubProcess.Exists(process.ProcessId!.Value), $"pid {process.ProcessId} still exists (a zombie?) after it exited");
    }
}
