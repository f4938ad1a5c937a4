using System.Data.Common;
using Microsoft.Data.SqlClient;
using Microsoft.Data.Sqlite;
using StackExchange.Redis;

namespace Hub.Core.Hosting;

/// <summary>
/// Which failures are worth trying again in a moment: the store or Redis was busy or briefly away. A bug or
/// bad input fails the same way every time, so it is not retried; neither is a cancellation (the host is
/// stopping).
/// </summary>
public static class TransientErrors
{
    /// <summary>
    /// SQL Server errors that pass: 1205 deadlock victim; 1204, 1222 lock resources or lock timeout; -2 client
    /// timeout; 20, 64, 121, 233, 10053, 10054, 10060 connection lost or refused; 3960, 3961 snapshot update
    /// conflict; 4221, 10928, 10929, 40197, 40501, 40613, 49918-49920 Azure SQL throttling or failover. Not a wrong
    /// database or login (4060, 18456): those stay wrong.
    /// </summary>
    public static readonly HashSet<int> SqlServerNumbers =
    [
        1205, 1204, 1222, -2, 233, 64, 20, 121, 10053, 10054, 10060,
        40197, 40501, 40613, 49918, 49919, 49920, 10928, 10929, 4221, 3960, 3961,
    ];

    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;

    public static bool IsTransient(Exception e) => e switch
    {
        OperationCanceledException => false,
        SqlException sql => sql.Errors.Cast<SqlError>().Any(x => SqlServerNumbers.Contains(x.Number)) || SqlServerNumbers.Contains(sql.Number),
        // Extended result codes (SQLITE_BUSY_SNAPSHOT = 517…) keep the primary code in the low byte.
        SqliteException sqlite => (sqlite.SqliteErrorCode & 0xFF) is SqliteBusy or SqliteLocked,
        DbException db => db.IsTransient,
        RedisConnectionException => true,
        // RedisTimeoutException is one too.
        TimeoutException => true,
        _ => false,
    };
}
