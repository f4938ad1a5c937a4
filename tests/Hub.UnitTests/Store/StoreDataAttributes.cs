using System.Reflection;
using Xunit.Sdk;

namespace Hub.UnitTests.Store;

/// <summary>Runs a store theory against a fresh SQLite file: <c>[Theory, SqliteStore, SqlServerStore]</c>.</summary>
public sealed class SqliteStoreAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [[TestStore.Sqlite]];
}

/// <summary>
/// Runs a store theory against SQL Server when <c>HUB_TEST_SQLSERVER</c> holds a connection string, and
/// reports it as skipped, with the reason, when it does not (so it never silently vanishes).
/// </summary>
public sealed class SqlServerStoreAttribute : DataAttribute
{
    public SqlServerStoreAttribute()
    {
        if (TestStore.SqlServerConnection is null)
            Skip = $"{TestStore.SqlServerVariable} is not set: SQL Server store tests skipped";
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [[TestStore.SqlServer]];
}
