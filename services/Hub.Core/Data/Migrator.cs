using System.Reflection;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hub.Core.Data;

/// <summary>
/// Applies the numbered scripts under Data/Migrations/{dialect}/ that the store has not seen yet, each in
/// its own transaction, recording them in <c>schema_migrations</c>. Safe to run from several processes
/// at once: the check and the script share one write transaction.
/// </summary>
public sealed class Migrator(HubDb db, ILogger<Migrator> logger)
{
    public async Task MigrateAsync(CancellationToken ct = default)
    {
        await db.Dialect.EnsureDatabaseAsync(db.ConnectionString, logger, ct);
        await using (var connection = await db.OpenAsync(ct))
        {
            if (db.Dialect.PrepareDatabase is { } prepare)
                await connection.ExecuteAsync(prepare);
            await using var transaction = await connection.BeginTransactionAsync(db.Dialect.WriteIsolation, ct);
            await db.Dialect.LockMigrationsAsync(connection, transaction, ct);
            await connection.ExecuteAsync(db.Dialect.CreateMigrationsTable, transaction: transaction);
            await transaction.CommitAsync(ct);
        }

        foreach (var (version, name, sql) in Scripts(db.Dialect.Name))
        {
            await using var connection = await db.OpenAsync(ct);
            // The application lock (SQL Server) or the write lock (SQLite) serialises migrating processes; the
            // locked read keeps a second one from applying a script the first has just recorded.
            await using var transaction = await connection.BeginTransactionAsync(db.Dialect.WriteIsolation, ct);
            await db.Dialect.LockMigrationsAsync(connection, transaction, ct);
            var applied = await connection.ExecuteScalarAsync<int>(
                $"SELECT COUNT(*) FROM {db.Dialect.LockedTable("schema_migrations")} WHERE version = @version",
                new { version }, transaction);
            if (applied > 0) continue;

            await connection.ExecuteAsync(sql, transaction: transaction);
            await connection.ExecuteAsync(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @now)",
                new { version, name, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, transaction);
            await transaction.CommitAsync(ct);
            logger.LogInformation("Applied migration {Version} {Name} ({Dialect})", version, name, db.Dialect.Name);
        }
    }

    public static IReadOnlyList<(int Version, string Name, string Sql)> Scripts(string dialect)
    {
        var assembly = typeof(Migrator).Assembly;
        var prefix = $"{assembly.GetName().Name}.Data.Migrations.{dialect}.";
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n =>
            {
                var file = n[prefix.Length..^4];
                using var reader = new StreamReader(assembly.GetManifestResourceStream(n)!);
                return (int.Parse(file[..4]), file, reader.ReadToEnd());
            })
            .OrderBy(s => s.Item1)
            .ToList();
    }
}

/// <summary>Migrates before anything else starts (it is registered first, and hosted services start in order).</summary>
internal sealed class MigrationHostedService(Migrator migrator) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => migrator.MigrateAsync(cancellationToken);
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
