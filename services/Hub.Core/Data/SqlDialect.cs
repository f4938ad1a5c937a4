using System.Data;
using System.Data.Common;
using Microsoft.Data.SqlClient;
using Microsoft.Extensions.Logging;
using Microsoft.Data.Sqlite;

namespace Hub.Core.Data;

/// <summary>
/// Everything that differs between SQLite and SQL Server, in one place. Feature SQL is written in the
/// common subset (times are Unix milliseconds, booleans are integers) and asks the dialect for the rest.
/// </summary>
public abstract class SqlDialect
{
    public abstract string Name { get; }

    public DbConnection CreateConnection(string connectionString)
    {
        var connection = NewConnection(connectionString);
        Dialects.AddOrUpdate(connection, this);
        return connection;
    }

    protected abstract DbConnection NewConnection(string connectionString);

    // Which dialect opened a connection, for SQL that is handed only the connection (WebhookOutbox).
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<DbConnection, SqlDialect> Dialects = new();

    /// <summary>The dialect whose <see cref="CreateConnection"/> made <paramref name="connection"/>.</summary>
    public static SqlDialect Of(DbConnection connection) =>
        Dialects.TryGetValue(connection, out var dialect) ? dialect
            : throw new InvalidOperationException("This connection was not opened through HubDb.");

    /// <summary>Appended after ORDER BY to return at most <c>@limit</c> rows.</summary>
    public abstract string LimitClause { get; }

    /// <summary>
    /// The table of a SELECT whose answer decides a write in the same transaction (the row to update, or
    /// the absence of a key about to be inserted). SQL Server: <c>WITH (UPDLOCK, HOLDLOCK, ROWLOCK)</c>, so the
    /// read takes the lock the write will need and keeps it (a key range too when no row matches) until commit,
    /// also under READ_COMMITTED_SNAPSHOT, where a plain read would see the last committed version and lock
    /// nothing. SQLite: the write transaction already holds the only write lock.
    /// </summary>
    public abstract string LockedTable(string table);

    /// <summary>The isolation level of write transactions (<see cref="HubDb.InTransactionAsync{T}"/>).</summary>
    public abstract IsolationLevel WriteIsolation { get; }

    public abstract bool IsUniqueViolation(DbException exception);

    /// <summary>
    /// An error after which the whole transaction may simply run again, as long as it came before the commit:
    /// the store rolled it back (deadlock victim, lock timeout, busy file) or lost the connection, which
    /// rolls back an open transaction too.
    /// </summary>
    public abstract bool IsTransient(Exception exception);

    /// <summary>
    /// The narrower case in which even a statement on its own certainly did not apply (it never ran, or was
    /// rolled back), so it may run again. Not a lost connection: the statement may have committed before it.
    /// </summary>
    public abstract bool NotApplied(Exception exception);

    /// <summary>
    /// Compares the idempotency key column with <paramref name="parameter"/> exactly: every character, case
    /// and trailing spaces included.
    /// </summary>
    public abstract string IdempotencyKeyEquals(string parameter);

    /// <summary><c>COUNT(*)</c> as a 64-bit integer.</summary>
    public abstract string CountRows { get; }

    /// <summary>
    /// The key list cursors page by on <paramref name="table"/> (conversations, deliveries), as a BIGINT
    /// column named <c>position</c>; it increases in commit order, so paging never skips a row that
    /// commits late. See <see cref="AfterPosition"/>.
    /// </summary>
    public abstract string Position(string table);

    /// <summary>Put before a list's SELECT (a statement of its own, or nothing): fixes the read bound <see cref="AfterPosition"/> uses.</summary>
    public abstract string PositionBound { get; }

    /// <summary>
    /// The WHERE condition for rows after the cursor <paramref name="parameter"/>, in <see cref="Position"/>
    /// order, and only rows no transaction still open can precede.
    /// </summary>
    public abstract string AfterPosition(string table, string parameter);

    /// <summary>ORDER BY for <see cref="AfterPosition"/>.</summary>
    public abstract string PositionOrder(string table);

    /// <summary>
    /// Run right after inserting the row with id <paramref name="idParameter"/> into <paramref name="table"/>,
    /// in the same transaction, to fix its <see cref="Position"/> (null: nothing to do).
    /// </summary>
    public abstract string? StampPosition(string table, string idParameter);

    /// <summary>
    /// One UPDATE that also returns <paramref name="columns"/> of the rows it changed, as they are after it
    /// (SQLite: <c>RETURNING</c>; SQL Server: <c>OUTPUT inserted.…</c>; <c>"*"</c> for every column). Its WHERE is checked row by row under the
    /// write lock, so of several processes racing for a row exactly one gets it back.
    /// </summary>
    public abstract string UpdateReturning(string table, string set, string where, params string[] columns);

    /// <summary>
    /// Creates the database itself when the server allows it (SQLite creates its file on open) and sets
    /// database options that cannot change inside a transaction. Best effort for the options: logged.
    /// </summary>
    public virtual Task EnsureDatabaseAsync(string connectionString, ILogger logger, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Run once per start-up on a connection of its own, before the migrations (not in a transaction).</summary>
    public virtual string? PrepareDatabase => null;

    /// <summary>Copies the write-ahead log into the database (SQLite's <see cref="SqliteCheckpointer"/>); null where there is none to copy.</summary>
    public virtual string? Checkpoint => null;

    /// <summary>Creates <c>schema_migrations</c> if it is missing.</summary>
    public abstract string CreateMigrationsTable { get; }

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
    protected override DbConnection NewConnection(string connectionString) => new SqliteConnection(connectionString);
    public override string LimitClause => "LIMIT @limit";
    public override string LockedTable(string table) => table;

    // Microsoft.Data.Sqlite runs BEGIN IMMEDIATE for Serializable (BEGIN, deferred, for other levels): the
    // transaction takes the write lock at its start, so it never has to upgrade a read lock later, which is
    // where two deferred writers deadlock (SQLITE_BUSY without waiting). SQLite is serializable anyway.
    public override IsolationLevel WriteIsolation => IsolationLevel.Serializable;

    // BUSY (5) outlasted busy_timeout, or BUSY_SNAPSHOT; LOCKED (6): a table lock inside a shared cache.
    public override bool IsTransient(Exception exception) => IsTransientError(exception);

    /// <summary>The one list of SQLite errors worth running again (the store's retries and the bus's message retry).</summary>
    public static bool IsTransientError(Exception exception) => exception is SqliteException { SqliteErrorCode: 5 or 6 };

    // A busy or locked statement did not run.
    public override bool NotApplied(Exception exception) => IsTransient(exception);

    // BINARY collation: = compares every byte, trailing spaces and case included.
    public override string IdempotencyKeyEquals(string parameter) => $"idem_key = {parameter}";

    public override string CountRows => "COUNT(*)";

    // seq (INTEGER PRIMARY KEY AUTOINCREMENT) is assigned by the INSERT inside the write transaction, and
    // SQLite has one writer at a time (BEGIN IMMEDIATE, or the implicit transaction of a lone statement),
    // so seq order is commit order: a reader's snapshot always holds a gap-free prefix of it.
    public override string Position(string table) => "seq AS position";
    public override string PositionBound => "";
    public override string AfterPosition(string table, string parameter) => $"seq > {parameter}";
    public override string PositionOrder(string table) => "seq";
    public override string? StampPosition(string table, string idParameter) => null;

    public override string PrepareDatabase => "PRAGMA journal_mode=WAL;";

    // PASSIVE: copies what it can without waiting for (or blocking) any writer.
    public override string Checkpoint => "PRAGMA wal_checkpoint(PASSIVE);";

    public override string CreateMigrationsTable =>
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);";

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
    protected override DbConnection NewConnection(string connectionString) => new SqlConnection(connectionString);
    public override string LimitClause => "OFFSET 0 ROWS FETCH NEXT @limit ROWS ONLY";
    public override string LockedTable(string table) => $"{table} WITH (UPDLOCK, HOLDLOCK, ROWLOCK)";

    // READ COMMITTED, not SERIALIZABLE: every read that guards a write says so (LockedTable, or the locking
    // UPDATE … OUTPUT of UpdateReturning), and the rest needs no range locks. SERIALIZABLE took shared range
    // locks on every read, which two intakes then both held and both tried to convert: a deadlock. The code
    // is right with READ_COMMITTED_SNAPSHOT on (EnsureDatabaseAsync asks for it) or off: the guarding reads
    // lock either way; plain reads see committed rows either way (a version, or wait for the lock).
    public override IsolationLevel WriteIsolation => IsolationLevel.ReadCommitted;

    // 1205: chosen as deadlock victim (the server rolled the transaction back); 1222: lock request timeout
    // (the statement was stopped before it changed anything); 3960: snapshot update conflict (rolled back).
    private static readonly HashSet<int> NotAppliedNumbers = [1205, 1222, 3960];

    // Connection and availability errors SqlClient's own retry logic counts as transient (Azure SQL included),
    // and -2, the client's command timeout. A transaction open on a lost connection is rolled back by the server.
    private static readonly HashSet<int> ConnectionNumbers =
    [
        -2, 20, 64, 233, 10053, 10054, 10060, 10928, 10929, 40143, 40197, 40501, 40540, 40613,
        42108, 42109, 49918, 49919, 49920, 4060, 4221, 615, 926,
    ];

    private static bool Has(Exception exception, HashSet<int> numbers) =>
        exception is SqlException e && e.Errors.Cast<SqlError>().Any(error => numbers.Contains(error.Number));

    public override bool IsTransient(Exception exception) => IsTransientError(exception);

    /// <summary>The one list of SQL Server errors worth running again (the store's retries and the bus's message retry).</summary>
    public static bool IsTransientError(Exception exception) => Has(exception, NotAppliedNumbers) || Has(exception, ConnectionNumbers);

    /// <summary>Whether an error number is on that list.</summary>
    public static bool IsTransientNumber(int number) => NotAppliedNumbers.Contains(number) || ConnectionNumbers.Contains(number);

    public override bool NotApplied(Exception exception) => Has(exception, NotAppliedNumbers);

    // Latin1_General_100_BIN2 on the column makes = case- and accent-exact, but = still pads the shorter
    // string with spaces (ANSI), so 'abc' = 'abc ' holds even in BIN2. The key is therefore matched on its
    // SHA-256 (idem_key_hash, a persisted computed column over the UTF-16 bytes), which the padding rule
    // does not touch; the primary key is on the hash too, so the uniqueness check is just as exact.
    public override string IdempotencyKeyEquals(string parameter) =>
        $"idem_key_hash = CAST(HASHBYTES('SHA2_256', CAST({parameter} AS NVARCHAR(255))) AS BINARY(32))";

    public override string CountRows => "COUNT_BIG(*)";

    // An IDENTITY value is taken when the INSERT runs, not when it commits: seq 11 can commit before seq 10,
    // and a reader that returned 11 as the last row of a page would never see 10. Instead every row gets the
    // database's rowversion at its insert (created_rv, copied from rv in the same transaction), and a list
    // reads only below MIN_ACTIVE_ROWVERSION(): the lowest rowversion any still-open transaction has used.
    // Every row below it has committed, and every row that commits later gets (or already has) a value at or
    // above it, so the next page finds it. A row inserted by a transaction still open waits until it commits.
    // The bound is read in a statement before the SELECT: with READ_COMMITTED_SNAPSHOT the SELECT reads the
    // rows committed when it starts, and a bound read later than that could pass a row committed in between
    // that the SELECT does not see.
    public override string Position(string table) => "CAST(created_rv AS BIGINT) AS position";

    public override string PositionBound => "DECLARE @bound BINARY(8) = MIN_ACTIVE_ROWVERSION();";

    public override string AfterPosition(string table, string parameter) =>
        $"created_rv > CAST({parameter} AS BINARY(8)) AND created_rv < @bound";

    public override string PositionOrder(string table) => "created_rv";

    // rv in the SET is the value the INSERT gave the row (the UPDATE's own new one is not visible to it).
    public override string StampPosition(string table, string idParameter) =>
        $"UPDATE {table} SET created_rv = rv WHERE id = {idParameter}";

    public override string CreateMigrationsTable =>
        "IF OBJECT_ID('schema_migrations') IS NULL CREATE TABLE schema_migrations (version INT PRIMARY KEY, name NVARCHAR(200) NOT NULL, applied_at BIGINT NOT NULL);";

    // OUTPUT without INTO: fine while the table has no triggers (none of Hub's do).

    public override string UpdateReturning(string table, string set, string where, params string[] columns) =>
        $"UPDATE {table} SET {set} OUTPUT {string.Join(", ", columns.Select(c => "inserted." + c))} WHERE {where}";

    /// <summary>Creates the database if missing (on master, as a login with CREATE DATABASE may).</summary>
    public const string CreateDatabase = "IF DB_ID(@name) IS NULL EXEC('CREATE DATABASE ' + @quoted)";

    /// <summary>
    /// Readers read the last committed version instead of waiting for writers' row locks. ALTER DATABASE cannot
    /// run in a transaction, and WITH NO_WAIT fails at once rather than wait for (or, with ROLLBACK IMMEDIATE,
    /// kill) the sessions of other Hub processes already in the database; the next start tries again.
    /// </summary>
    public const string EnableReadCommittedSnapshot =
        "IF EXISTS (SELECT 1 FROM sys.databases WHERE name = @name AND is_read_committed_snapshot_on = 0) EXEC('ALTER DATABASE ' + @quoted + ' SET READ_COMMITTED_SNAPSHOT ON WITH NO_WAIT')";

    public override async Task EnsureDatabaseAsync(string connectionString, ILogger logger, CancellationToken ct)
    {
        var target = new SqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(target.InitialCatalog) || target.InitialCatalog == "master") return;
        var master = new SqlConnectionStringBuilder(connectionString) { InitialCatalog = "master" };
        await using var connection = new SqlConnection(master.ConnectionString);
        await connection.OpenAsync(ct);
        var quoted = "[" + target.InitialCatalog.Replace("]", "]]") + "]";
        try
        {
            await RunAsync(connection, CreateDatabase, target.InitialCatalog, quoted, ct);
        }
        catch (SqlException e) when (e.Number == 1801)
        {
            // Another process created it between the check and the CREATE.
        }
        catch (SqlException e) when (e.Number is 262 or 229)
        {
            // No CREATE DATABASE permission: the database is an administrator's to create; if it is missing,
            // the first statement on it says so.
            logger.LogInformation("Not creating database {Database}: {Reason}", target.InitialCatalog, e.Message);
        }

        try
        {
            await RunAsync(connection, EnableReadCommittedSnapshot, target.InitialCatalog, quoted, ct);
        }
        catch (SqlException e)
        {
            logger.LogWarning("READ_COMMITTED_SNAPSHOT stays as it is on {Database} ({Reason}). Hub is correct either way; " +
                "with it off, readers wait for writers' row locks.", target.InitialCatalog, e.Message);
        }
    }

    private static async Task RunAsync(SqlConnection connection, string sql, string name, string quoted, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("@name", name);
        command.Parameters.AddWithValue("@quoted", quoted);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// sp_getapplock does not raise an error when it fails: it returns a negative code (-1 timeout, -2
    /// cancelled, -3 deadlock victim, -999 bad call). Unchecked, two processes would both migrate.
    /// </summary>
    public const string GetMigrationLock =
        "DECLARE @result INT; EXEC @result = sp_getapplock @Resource = 'hub_migrations', @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 60000; SELECT @result;";

    public override async Task LockMigrationsAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = GetMigrationLock;
        var result = Convert.ToInt32(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
        CheckAppLock(result);
    }

    /// <summary>0 and 1 mean granted; a negative code is thrown with its meaning.</summary>
    public static void CheckAppLock(int result)
    {
        if (result >= 0) return;
        var meaning = result switch
        {
            -1 => "timed out after 60 s (another process is migrating)",
            -2 => "cancelled",
            -3 => "chosen as deadlock victim",
            _ => "refused (parameter or call error)",
        };
        throw new InvalidOperationException($"Could not take the migration lock: sp_getapplock returned {result}, {meaning}.");
    }

    // 2627: unique constraint, 2601: unique index.
    public override bool IsUniqueViolation(DbException exception) =>
        exception is SqlException { Number: 2627 or 2601 };
}
