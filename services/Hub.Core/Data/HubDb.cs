using System.Data;
using System.Data.Common;
using Dapper;
using Hub.Core.Hosting;
using Microsoft.Extensions.Options;

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
/// </remarks>
public sealed class HubDb(IOptions<HubOptions> options)
{
    private readonly string _connectionString = options.Value.ConnectionString;
    private readonly SemaphoreSlim? _writeGate = options.Value.Database == "sqlite" ? new(1, 1) : null;

    public SqlDialect Dialect { get; } = SqlDialect.For(options.Value.Database);

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

    public Task EnsureDatabaseAsync(CancellationToken ct) => Dialect.EnsureDatabaseAsync(_connectionString, ct);

    /// <summary>Runs <paramref name="work"/> in a write transaction (SQLite: BEGIN IMMEDIATE) and commits it.</summary>
    /// <remarks>Keep <paramref name="work"/> to SQL: on SQLite every other writer in the process waits for it.</remarks>
    public async Task<T> InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct = default)
    {
        using var turn = await WriteTurnAsync(ct);
        await using var connection = await OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.Serializable, ct);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(ct);
        return result;
    }

    /// <summary>One write statement on its own (its own implicit transaction); returns the rows affected.</summary>
    public async Task<int> ExecuteAsync(string sql, object? parameters = null, CancellationToken ct = default)
    {
        using var turn = await WriteTurnAsync(ct);
        await using var connection = await OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(sql, parameters, cancellationToken: ct));
    }

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
