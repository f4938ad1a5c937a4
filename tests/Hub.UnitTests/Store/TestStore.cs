using System.Runtime.CompilerServices;
using Dapper;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Microsoft.Data.SqlClient;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Hub.UnitTests.Store;

/// <summary>
/// A throwaway store: a temp SQLite file, or a database of its own on the SQL Server named by
/// <c>HUB_TEST_SQLSERVER</c>. Deleted (dropped) on dispose.
/// </summary>
public sealed class TestStore : IAsyncDisposable
{
    public const string Sqlite = "sqlite";
    public const string SqlServer = "sqlserver";
    public const string SqlServerVariable = "HUB_TEST_SQLSERVER";

    public static string? SqlServerConnection =>
        Environment.GetEnvironmentVariable(SqlServerVariable) is { Length: > 0 } value ? value : null;

    [ModuleInitializer]
    internal static void MapSnakeCaseColumns() => DefaultTypeMap.MatchNamesWithUnderscores = true; // as AddHubStore does

    private readonly string _kind;
    private readonly string _connectionString;
    private readonly string? _databaseName;

    private TestStore(string kind, string connectionString, string? databaseName)
    {
        (_kind, _connectionString, _databaseName) = (kind, connectionString, databaseName);
        Db = new HubDb(Options.Create(new HubOptions { Database = kind, DatabaseConnection = connectionString }));
    }

    public HubDb Db { get; }

    public string ConnectionString => _connectionString;

    public Migrator NewMigrator() => new(Db, NullLogger<Migrator>.Instance);

    /// <summary>A new, empty store; migrated unless <paramref name="migrate"/> is false.</summary>
    public static async Task<TestStore> CreateAsync(string kind, bool migrate = true)
    {
        var store = kind switch
        {
            Sqlite => new TestStore(Sqlite, $"Data Source={Path.Combine(Path.GetTempPath(), $"hub-unit-{Guid.NewGuid():N}.db")}", null),
            SqlServer => await CreateSqlServerAsync(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
        if (migrate) await store.NewMigrator().MigrateAsync();
        return store;
    }

    private static async Task<TestStore> CreateSqlServerAsync()
    {
        var server = SqlServerConnection ?? throw new InvalidOperationException($"{SqlServerVariable} is not set.");
        var name = $"hub_unit_{Guid.NewGuid():N}";
        await ExecuteOnMasterAsync(server, $"CREATE DATABASE [{name}]");
        var target = new SqlConnectionStringBuilder(server) { InitialCatalog = name };
        return new TestStore(SqlServer, target.ConnectionString, name);
    }

    private static async Task ExecuteOnMasterAsync(string server, string sql)
    {
        var master = new SqlConnectionStringBuilder(server) { InitialCatalog = "master" };
        await using var connection = new SqlConnection(master.ConnectionString);
        await connection.OpenAsync();
        await connection.ExecuteAsync(sql);
    }

    public async ValueTask DisposeAsync()
    {
        if (_kind == Sqlite)
        {
            using (var connection = new SqliteConnection(_connectionString)) SqliteConnection.ClearPool(connection);
            var path = new SqliteConnectionStringBuilder(_connectionString).DataSource;
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
                File.Delete(file);
        }
        else
        {
            SqlConnection.ClearAllPools();
            await ExecuteOnMasterAsync(SqlServerConnection!,
                $"IF DB_ID('{_databaseName}') IS NOT NULL BEGIN ALTER DATABASE [{_databaseName}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{_databaseName}]; END");
        }
    }
}

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; private set; } = start;
    public long NowMs => Now.ToUnixTimeMilliseconds();
    public override DateTimeOffset GetUtcNow() => Now;
    public void Advance(TimeSpan by) => Now += by;
}
