using System.Collections.Concurrent;
using System.Data;
using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Hub.Core.Data;
using Microsoft.Extensions.Logging;

namespace Hub.UnitTests.Store;

/// <summary>One statement as a feature ran it, rendered for SQL Server, and the Hub type whose code ran it.</summary>
public sealed record RecordedStatement(string SqlServerText, string Owner);

/// <summary>
/// Runs Hub on SQLite while writing down what SQL Server would have been sent. Every fragment the dialect
/// provides comes back as the SQLite text wrapped in numbered marker comments, and the SQL Server text of
/// the same fragment is remembered under that number; a wrapping connection writes down every command
/// text executed. <see cref="SqlServerText"/> then swaps each marked fragment for its SQL Server twin, so
/// the statement is exactly what <see cref="SqlServerDialect"/> would have rendered around the same feature SQL.
/// </summary>
public sealed partial class RecordingDialect : SqlDialect
{
    private readonly SqliteDialect _sqlite = new();
    private readonly SqlServerDialect _sqlServer = new();
    private readonly ConcurrentDictionary<(string Sqlite, string SqlServer), int> _ids = new();
    private readonly ConcurrentDictionary<int, string> _sqlServerText = new();
    private readonly ConcurrentQueue<(string Text, string Owner)> _executed = new();

    public override string Name => _sqlite.Name;

    protected override DbConnection NewConnection(string connectionString) =>
        new RecordingConnection(_sqlite.CreateConnection(connectionString), this);

    public override Task PrepareAsync(DbConnection connection, CancellationToken ct) =>
        _sqlite.PrepareAsync(((RecordingConnection)connection).Inner, ct);

    public override Task EnsureDatabaseAsync(string connectionString, ILogger logger, CancellationToken ct) =>
        _sqlite.EnsureDatabaseAsync(connectionString, logger, ct);

    public override Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct) =>
        _sqlite.LockMigrationsAsync(connection, transaction, ct);

    public override IsolationLevel WriteIsolation => _sqlite.WriteIsolation;
    public override bool IsUniqueViolation(DbException exception) => _sqlite.IsUniqueViolation(exception);
    public override bool IsTransient(Exception exception) => _sqlite.IsTransient(exception);
    public override bool NotApplied(Exception exception) => _sqlite.NotApplied(exception);

    public override string LimitClause => Mark(_sqlite.LimitClause, _sqlServer.LimitClause);
    public override string LockedTable(string table) => Mark(_sqlite.LockedTable(table), _sqlServer.LockedTable(table));

    public override string UpdateReturning(string table, string set, string where, params string[] columns) =>
        Mark(_sqlite.UpdateReturning(table, set, where, columns), _sqlServer.UpdateReturning(table, set, where, columns));

    public override string IdempotencyKeyEquals(string parameter) =>
        Mark(_sqlite.IdempotencyKeyEquals(parameter), _sqlServer.IdempotencyKeyEquals(parameter));

    public override string CountRows => Mark(_sqlite.CountRows, _sqlServer.CountRows);
    public override string Position(string table) => Mark(_sqlite.Position(table), _sqlServer.Position(table));
    public override string PositionBound => Mark(_sqlite.PositionBound, _sqlServer.PositionBound);
    public override string AfterPosition(string table, string parameter) =>
        Mark(_sqlite.AfterPosition(table, parameter), _sqlServer.AfterPosition(table, parameter));
    public override string PositionOrder(string table) => Mark(_sqlite.PositionOrder(table), _sqlServer.PositionOrder(table));

    // SQLite needs no statement here, SQL Server does: run a harmless one that stands for it.
    public override string? StampPosition(string table, string idParameter) =>
        Mark(_sqlite.StampPosition(table, idParameter) ?? "SELECT 1", _sqlServer.StampPosition(table, idParameter) ?? "");

    // SQLite-only statements: recorded as empty for SQL Server (it does not run them).
    public override string? PrepareDatabase => Mark(_sqlite.PrepareDatabase!, _sqlServer.PrepareDatabase ?? "");
    public override string? Checkpoint => Mark(_sqlite.Checkpoint!, _sqlServer.Checkpoint ?? "");
    public override string CreateMigrationsTable => Mark(_sqlite.CreateMigrationsTable, _sqlServer.CreateMigrationsTable);

    private string Mark(string sqlite, string sqlServer)
    {
        var id = _ids.GetOrAdd((sqlite, sqlServer), _ => _ids.Count + 1);
        _sqlServerText[id] = sqlServer;
        return $"/*<{id}<*/{sqlite}/*>{id}>*/";
    }

    [GeneratedRegex(@"/\*<(\d+)<\*/(.*?)/\*>\1>\*/", RegexOptions.Singleline)]
    private static partial Regex Marked();

    /// <summary><paramref name="executed"/> as SQL Server would have been sent it.</summary>
    public string SqlServerText(string executed)
    {
        // Innermost first is not needed: a fragment's SQL Server text may hold another fragment's markers
        // (a WHERE passed to UpdateReturning), which the next round replaces.
        for (var round = 0; round < 10 && executed.Contains("/*<", StringComparison.Ordinal); round++)
            executed = Marked().Replace(executed, m => _sqlServerText[int.Parse(m.Groups[1].Value)]);
        // Dapper expanded "IN @list" in the SQLite text it was given; a fragment swapped in above still has the
        // list parameter as written, so expand it the same way.
        return DapperList().Replace(executed, "IN (@${name}1, @${name}2)");
    }

    [GeneratedRegex(@"\bIN\s+@(?<name>\w+)")]
    private static partial Regex DapperList();

    internal void Executed(string commandText) => _executed.Enqueue((commandText, Owner()));

    /// <summary>Every distinct statement run so far, rendered for SQL Server (statements SQL Server does not run left out).</summary>
    public IReadOnlyList<RecordedStatement> Statements()
    {
        // The migrator runs the SQLite scripts here; the SQL Server ones are parsed from the files.
        var sqliteScripts = Migrator.Scripts(_sqlite.Name).Select(s => s.Sql.Trim()).ToHashSet();
        return _executed.Select(e => new RecordedStatement(SqlServerText(e.Text).Trim(), e.Owner))
            .Where(s => s.SqlServerText.Length > 0 && !sqliteScripts.Contains(s.SqlServerText))
            .DistinctBy(s => (s.SqlServerText, s.Owner))
            .ToList();
    }

    /// <summary>
    /// The innermost Hub type on the stack that is not the store plumbing: the feature whose SQL this is.
    /// Dapper runs synchronously up to the command, so the feature's frame (its async state machine or
    /// lambda, nested in the feature's type) is still on the stack.
    /// </summary>
    private static string Owner()
    {
        foreach (var frame in new StackTrace(2, false).GetFrames())
        {
            var type = frame.GetMethod()?.DeclaringType;
            while (type?.DeclaringType is not null) type = type.DeclaringType;
            if (type?.FullName is not { } name || !name.StartsWith("Hub.", StringComparison.Ordinal)) continue;
            if (name.StartsWith("Hub.UnitTests.", StringComparison.Ordinal) || name == typeof(HubDb).FullName) continue;
            return name;
        }
        return "?";
    }
}

/// <summary>Passes everything to the SQLite connection; its commands write their text down as they run.</summary>
[SuppressMessage("Security", "CA2100", Justification = "Test wrapper: forwards the text it is given.")]
internal sealed class RecordingConnection(DbConnection inner, RecordingDialect recorder) : DbConnection
{
    public DbConnection Inner => inner;

    [AllowNull]
    public override string ConnectionString { get => inner.ConnectionString; set => inner.ConnectionString = value; }
    public override string Database => inner.Database;
    public override string DataSource => inner.DataSource;
    public override string ServerVersion => inner.ServerVersion;
    public override ConnectionState State => inner.State;
    public override void ChangeDatabase(string databaseName) => inner.ChangeDatabase(databaseName);
    public override void Close() => inner.Close();
    public override void Open() => inner.Open();
    public override Task OpenAsync(CancellationToken cancellationToken) => inner.OpenAsync(cancellationToken);

    protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel) =>
        new RecordingTransaction(inner.BeginTransaction(isolationLevel), this);

    protected override DbCommand CreateDbCommand() => new RecordingCommand(inner.CreateCommand(), this, recorder);

    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

internal sealed class RecordingTransaction(DbTransaction inner, RecordingConnection connection) : DbTransaction
{
    public DbTransaction Inner => inner;
    public override IsolationLevel IsolationLevel => inner.IsolationLevel;
    protected override DbConnection DbConnection => connection;
    public override void Commit() => inner.Commit();
    public override Task CommitAsync(CancellationToken cancellationToken = default) => inner.CommitAsync(cancellationToken);
    public override void Rollback() => inner.Rollback();
    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

[SuppressMessage("Security", "CA2100", Justification = "Test wrapper: forwards the text it is given.")]
internal sealed class RecordingCommand(DbCommand inner, RecordingConnection connection, RecordingDialect recorder) : DbCommand
{
    private DbTransaction? _transaction;

    [AllowNull]
    public override string CommandText { get => inner.CommandText; set => inner.CommandText = value; }
    public override int CommandTimeout { get => inner.CommandTimeout; set => inner.CommandTimeout = value; }
    public override CommandType CommandType { get => inner.CommandType; set => inner.CommandType = value; }
    public override bool DesignTimeVisible { get => inner.DesignTimeVisible; set => inner.DesignTimeVisible = value; }
    public override UpdateRowSource UpdatedRowSource { get => inner.UpdatedRowSource; set => inner.UpdatedRowSource = value; }
    protected override DbConnection? DbConnection { get => connection; set { } }
    protected override DbParameterCollection DbParameterCollection => inner.Parameters;

    protected override DbTransaction? DbTransaction
    {
        get => _transaction;
        set
        {
            _transaction = value;
            inner.Transaction = (value as RecordingTransaction)?.Inner ?? value;
        }
    }

    public override void Cancel() => inner.Cancel();
    public override void Prepare() => inner.Prepare();
    protected override DbParameter CreateDbParameter() => inner.CreateParameter();

    public override int ExecuteNonQuery() { Record(); return inner.ExecuteNonQuery(); }
    public override object? ExecuteScalar() { Record(); return inner.ExecuteScalar(); }
    protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) { Record(); return inner.ExecuteReader(behavior); }

    public override Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken) { Record(); return inner.ExecuteNonQueryAsync(cancellationToken); }
    public override Task<object?> ExecuteScalarAsync(CancellationToken cancellationToken) { Record(); return inner.ExecuteScalarAsync(cancellationToken); }

    protected override Task<DbDataReader> ExecuteDbDataReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken)
    {
        Record();
        return inner.ExecuteReaderAsync(behavior, cancellationToken);
    }

    private void Record() => recorder.Executed(inner.CommandText);

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
