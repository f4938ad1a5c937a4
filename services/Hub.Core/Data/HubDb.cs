using System.Data.Common;
using Dapper;
using Hub.Core.Hosting;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Hub.Core.Data;

/// <summary>
/// Opens connections to the configured store. Features keep their own SQL next to them: reads open a
/// connection; writes go through <see cref="InTransactionAsync{T}"/> or <see cref="ExecuteAsync"/>.
/// </summary>
/// <remarks>
/// SQLite has one writer per file. Writers of one process take turns on an in-process gate before they
/// ask SQLite for the write lock, so they queue in memory (FIFO, no polling) instead of colliding on the
/// file lock and sleeping in SQLite's busy handler, which backs off by milliseconds at a time. Readers
/// (WAL) never wait. Other processes on the same file still meet at the file lock (busy_timeout).
/// A writer opens its connection only once it has its turn: a waiting writer holding an open connection
/// would make the pool grow to one connection per waiter, each with its own page cache and prepared
/// statements in native memory (5,000 streams closing at once left 500 MB of SQLite memory behind).
/// SQL Server locks rows itself, so there is no gate.
/// <para>
/// A write that the store rolled back for a reason of its own (SQL Server's deadlock victim, a lock timeout,
/// a dropped connection; SQLite busy past its timeout) runs again from its first statement, a few times
/// with jittered backoff, instead of surfacing as a 500. That is why a transaction's delegate is SQL only:
/// it may run more than once, and only its last run commits. A failed COMMIT is not run again: it may
/// have committed, and the work is not known to be idempotent.
/// </para>
/// </remarks>
public sealed class HubDb(IOptions<HubOptions> options, SqlDialect dialect)
{
    public HubDb(IOptions<HubOptions> options) : this(options, SqlDialect.For(options.Value.Database)) { }

    private readonly string _connectionString = options.Value.ConnectionString;
    private readonly SemaphoreSlim? _writeGate = options.Value.Database == "sqlite" ? new(1, 1) : null;

    public SqlDialect Dialect { get; } = dialect;

    public string ConnectionString => _connectionString;

    /// <summary>How many times a write runs at most when the store keeps rolling it back.</summary>
    public const int WriteAttempts = 4;

    // Set on an exception thrown by COMMIT: whether the commit happened is then unknown, so nothing is run again.
    private const string CommitFailed = "hub.commit_failed";

    private readonly ResiliencePipeline _retryTransaction = Retry(e => !e.Data.Contains(CommitFailed) && dialect.IsTransient(e));
    private readonly ResiliencePipeline _retryStatement = Retry(dialect.NotApplied);

    private static ResiliencePipeline Retry(Func<Exception, bool> runAgain) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle(runAgain),
            MaxRetryAttempts = WriteAttempts - 1,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(20),
        })
        .Build();

    public async Task<DbConnection> OpenAsync(CancellationToken ct = default)
    {
        var connection = Dialect.CreateConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct);
            await Dialect.PrepareAsync(connection, ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> in a write transaction (SQLite: BEGIN IMMEDIATE; SQL Server: READ COMMITTED)
    /// and commits it; runs it again, whole, after a transient failure (see the remarks on the class).
    /// </summary>
    /// <remarks>
    /// Keep <paramref name="work"/> to SQL: it may run more than once, and on SQLite every other writer in the
    /// process waits for it. Anything else (publishing, notifying) belongs after this returns.
    /// </remarks>
    public Task<T> InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct = default) =>
        Telemetry.HubTracing.Store.HasListeners() ? TracedTransactionAsync(work, ct) : TransactionAsync(work, ct);

    /// <summary>The transaction as one span: the wait for SQLite's write turn, every run and the commit.</summary>
    private async Task<T> TracedTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct)
    {
        using var activity = Telemetry.HubTracing.Store.StartActivity("db transaction", System.Diagnostics.ActivityKind.Client);
        activity?.SetTag("db.system.name", Dialect.Name == "sqlite" ? "sqlite" : "microsoft.sql_server");
        try
        {
            return await TransactionAsync(work, ct);
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.GetType().Name);
            throw;
        }
    }

    private Task<T> TransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct) =>
        _retryTransaction.ExecuteAsync(static async (state, ct) =>
        {
            var (db, work) = state;
            using var turn = await db.WriteTurnAsync(ct);
            await using var connection = await db.OpenAsync(ct);
            await using var transaction = await connection.BeginTransactionAsync(db.Dialect.WriteIsolation, ct);
            var result = await work(connection, transaction);
            try
            {
                await transaction.CommitAsync(ct);
            }
            catch (Exception e)
            {
                e.Data[CommitFailed] = true;
                throw;
            }
            return result;
        }, (this, work), ct).AsTask();

    /// <summary>
    /// One write statement on its own (its own implicit transaction); returns the rows affected. Run again
    /// only when it certainly did not apply (deadlock victim, lock timeout, busy): after a lost connection it
    /// may have committed.
    /// </summary>
    public Task<int> ExecuteAsync(string sql, object? parameters = null, CancellationToken ct = default) =>
        _retryStatement.ExecuteAsync(static async (state, ct) =>
        {
            var (db, sql, parameters) = state;
            using var turn = await db.WriteTurnAsync(ct);
            await using var connection = await db.OpenAsync(ct);
            return await connection.ExecuteAsync(new CommandDefinition(sql, parameters, cancellationToken: ct));
        }, (this, sql, parameters), ct).AsTask();

    private async ValueTask<WriteTurn> WriteTurnAsync(CancellationToken ct)
    {
        if (_writeGate is null) return default;
        await _writeGate.WaitAsync(ct);
        return new WriteTurn(_writeGate);
    }

    private readonly struct WriteTurn(SemaphoreSlim? gate) : IDisposable
    {
        public void Dispose() => gate?.Release();
    }
}
