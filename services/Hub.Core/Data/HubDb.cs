using System.Data;
using System.Data.Common;
using Hub.Core.Hosting;
using Microsoft.Extensions.Options;

namespace Hub.Core.Data;

/// <summary>Opens connections to the configured store. Features keep their own SQL next to them.</summary>
public sealed class HubDb(IOptions<HubOptions> options)
{
    private readonly string _connectionString = options.Value.ConnectionString;

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
    public async Task<T> InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.Serializable, ct);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(ct);
        return result;
    }
}
