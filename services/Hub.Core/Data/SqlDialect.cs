using System.Data.Common;
using Microsoft.Data.SqlClient;
using Microsoft.Data.Sqlite;

namespace Hub.Core.Data;

/// <summary>
/// Everything that differs between SQLite and SQL Server, in one place. Feature SQL is written in the
/// common subset (times are Unix milliseconds, booleans are integers) and asks the dialect for the rest.
/// </summary>
public abstract class SqlDialect
{
    public abstract string Name { get; }
    public abstract DbConnection CreateConnection(string connectionString);

    /// <summary>Appended after ORDER BY to return at most <c>@limit</c> rows.</summary>
    public abstract string LimitClause { get; }

    /// <summary>Prepended to a SELECT that reads a row the transaction is about to update (SQL Server needs a lock hint; SQLite's write transaction already holds the lock).</summary>
    public abstract string LockedTable(string table);

    public abstract bool IsUniqueViolation(DbException exception);

    /// <summary>
    /// One UPDATE that also returns <paramref name="columns"/> of the rows it changed, as they are after it
    /// (SQLite: <c>RETURNING</c>; SQL Server: <c>OUTPUT inserted.…</c>; <c>"*"</c> for every column). Its WHERE is checked row by row under the
    /// write lock, so of several processes racing for a row exactly one gets it back.
    /// </summary>
    public abstract string UpdateReturning(string table, string set, string where, params string[] columns);

    /// <summary>Creates the database itself when the server allows it (SQLite creates its file on open).</summary>
    public virtual Task EnsureDatabaseAsync(string connectionString, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Serialises migrations across processes inside <paramref name="transaction"/> (SQLite's write lock already does).</summary>
    public virtual Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Run once per opened connection.</summary>
    public virtual Task PrepareAsync(DbConnection connection, CancellationToken ct) => Task.CompletedTask;

    public static SqlDialect For(string database) => database switch
    {
        "sqlite" => new SqliteDialect(),
        "sqlserver" => new SqlServerDialect(),
        _ => throw new InvalidOperationException($"Unknown HUB_DATABASE '{database}'."),
    };
}

public sealed class SqliteDialect : SqlDialect
{
    static SqliteDialect() => SQLitePCL.Batteries_V2.Init();

    public override string Name => "sqlite";
    public override DbConnection CreateConnection(string connectionString) => new SqliteConnection(connectionString);
    public override string LimitClause => "LIMIT @limit";
    public override string LockedTable(string table) => table;

    public override string UpdateReturning(string table, string set, string where, params string[] columns) =>
        $"UPDATE {table} SET {set} WHERE {where} RETURNING {string.Join(", ", columns)}";

    // SQLITE_CONSTRAINT (19): UNIQUE and PRIMARY KEY violations.
    public override bool IsUniqueViolation(DbException exception) =>
        exception is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 };

    // The native handles already set up. Microsoft.Data.Sqlite pools connections (a closed SqliteConnection
    // gives its sqlite3 handle back to the pool), and these PRAGMAs are per handle and survive the round trip,
    // so they run once per handle instead of on every open (three statements, about a tenth of a message's
    // SQLite time). A handle the pool drops is collected together with its entry.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> _prepared = new();

    public override async Task PrepareAsync(DbConnection connection, CancellationToken ct)
    {
        var handle = ((SqliteConnection)connection).Handle;
        if (handle is not null && _prepared.TryGetValue(handle, out _)) return;

        // WAL is persistent in the file; synchronous=NORMAL in WAL survives a process crash (only an
        // OS crash can lose the last commits), which is the failure the hub promises to survive.
        // Checkpoints run in the background (SqliteCheckpointer); the automatic one is only a backstop.
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=10000;";
        await command.ExecuteNonQueryAsync(ct);
        if (handle is not null) _prepared.AddOrUpdate(handle, _prepared);
    }
}

public sealed class SqlServerDialect : SqlDialect
{
    public override string Name => "sqlserver";
    public override DbConnection CreateConnection(string connectionString) => new SqlConnection(connectionString);
    public override string LimitClause => "OFFSET 0 ROWS FETCH NEXT @limit ROWS ONLY";
    public override string LockedTable(string table) => $"{table} WITH (UPDLOCK, ROWLOCK)";
    // OUTPUT without INTO: fine while the table has no triggers (none of Hub's do).

    public override string UpdateReturning(string table, string set, string where, params string[] columns) =>
        $"UPDATE {table} SET {set} OUTPUT {string.Join(", ", columns.Select(c => "inserted." + c))} WHERE {where}";

    public override async Task EnsureDatabaseAsync(string connectionString, CancellationToken ct)
    {
        var target = new SqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(target.InitialCatalog) || target.InitialCatalog == "master") return;
        var master = new SqlConnectionStringBuilder(connectionString) { InitialCatalog = "master" };
        await using var connection = new SqlConnection(master.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "IF DB_ID(@name) IS NULL EXEC('CREATE DATABASE ' + @quoted)";
        command.Parameters.AddWithValue("@name", target.InitialCatalog);
        command.Parameters.AddWithValue("@quoted", "[" + target.InitialCatalog.Replace("]", "]]") + "]");
        try
        {
            await command.ExecuteNonQueryAsync(ct);
        }
        catch (SqlException e) when (e.Number == 1801)
        {
            // Another process created it between the check and the CREATE.
        }
    }

    public override async Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "EXEC sp_getapplock @Resource = 'hub_migrations', @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 60000";
        await command.ExecuteNonQueryAsync(ct);
    }

    // 2627: unique constraint, 2601: unique index.
    public override bool IsUniqueViolation(DbException exception) =>
        exception is SqlException { Number: 2627 or 2601 };
}
