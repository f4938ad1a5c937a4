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
    public static bool IsTransient(Exception e) => e switch
    {
        OperationCanceledException => false,
        // The stores' own lists (SqlDialect), so the bus retries exactly what a transaction would run again.
        SqlException sql => Data.SqlServerDialect.IsTransientError(sql),
        SqliteException sqlite => Data.SqliteDialect.IsTransientError(sqlite),
        DbException db => db.IsTransient,
        RedisConnectionException => true,
        // RedisTimeoutException is one too.
        TimeoutException => true,
        _ => false,
    };
}
