using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hub.Core.Data;

/// <summary>
/// Copies SQLite's write-ahead log back into the database file in the background, once a second.
/// </summary>
/// <remarks>
/// Left to itself SQLite checkpoints inside the commit that fills the log past 1,000 pages: that commit then
/// copies the pages and waits for two fsyncs (about 4 ms each on this project's disks) while it still holds
/// the write turn, so every writer in the process and the caller waiting on it stall (about every 40 messages).
/// Here a PASSIVE checkpoint on its own connection does that work beside the writers instead of in front of
/// them; it never blocks them and never waits for them. Commits keep a distant automatic checkpoint (10,000
/// pages) as a backstop, should this service not keep up or not run (another process on the same file without it).
/// </remarks>
public sealed class SqliteCheckpointer(HubDb db, ILogger<SqliteCheckpointer> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (db.Dialect.Checkpoint is null) return;
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckpointAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The backstop checkpoint in the commits keeps the log bounded meanwhile.
                logger.LogWarning(e, "SQLite checkpoint failed; retrying in {Interval}", Interval);
            }
        }
    }

    /// <summary>One PASSIVE checkpoint: returns the frames in the log and how many of them are now in the database file.</summary>
    public async Task<(long LogFrames, long CheckpointedFrames)> CheckpointAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var (_, log, checkpointed) = await connection.QuerySingleAsync<(long Busy, long Log, long Checkpointed)>(
            new CommandDefinition(db.Dialect.Checkpoint!, cancellationToken: ct));
        return (log, checkpointed);
    }
}
