using Hub.Core.Hosting;
using MassTransit;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hub.UnitTests.Core;

/// <summary>The bus every role shares, as <see cref="HubBusExtensions.AddHubBus"/> builds it (in memory here).</summary>
public class HubBusTests
{
    public sealed record Ping(Guid Id);

    /// <summary>Fails the first <c>failures</c> deliveries of each message with the exception the test chose.</summary>
    public sealed class FlakyConsumer(Flaky flaky) : IConsumer<Ping>
    {
        public Task Consume(ConsumeContext<Ping> context)
        {
            var attempt = Interlocked.Increment(ref flaky.Attempts);
            if (attempt <= flaky.Failures) throw flaky.Error();
            flaky.Done.TrySetResult(attempt);
            return Task.CompletedTask;
        }
    }

    public sealed class Flaky(int failures, Func<Exception> error)
    {
        public readonly int Failures = failures;
        public readonly Func<Exception> Error = error;
        public int Attempts;
        public readonly TaskCompletionSource<int> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static IHost Build(Flaky flaky)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(flaky);
        builder.ConfigureHubBus(x => x.AddConsumer<FlakyConsumer>());
        builder.AddHubBus();
        return builder.Build();
    }

    [Theory]
    [InlineData("sqlite_busy")]
    [InlineData("sqlite_locked")]
    [InlineData("timeout")]
    public async Task A_consumer_failing_once_with_a_transient_error_succeeds_on_retry_within_seconds(string error)
    {
        Func<Exception> transient = error switch
        {
            "sqlite_busy" => () => new SqliteException("database is locked", 5),
            "sqlite_locked" => () => new SqliteException("database table is locked", 6),
            _ => () => new TimeoutException("store did not answer"),
        };
        var flaky = new Flaky(failures: 1, transient);
        using var host = Build(flaky);
        await host.StartAsync();
        try
        {
            var started = TimeProvider.System.GetTimestamp();
            await host.Services.GetRequiredService<IBus>().Publish(new Ping(Guid.NewGuid()));

            var attempts = await flaky.Done.Task.WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(2, attempts);
            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(3));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_bug_is_not_retried()
    {
        var flaky = new Flaky(failures: 1, () => new InvalidOperationException("a bug"));
        using var host = Build(flaky);
        await host.StartAsync();
        try
        {
            await host.Services.GetRequiredService<IBus>().Publish(new Ping(Guid.NewGuid()));

            // Longer than the first two retry intervals: a retry would have come by now.
            await Task.Delay(HubBusExtensions.MessageRetryIntervals[0] + HubBusExtensions.MessageRetryIntervals[1] + TimeSpan.FromSeconds(1));

            Assert.Equal(1, flaky.Attempts);
            Assert.False(flaky.Done.Task.IsCompleted);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public void Usage_telemetry_to_masstransit_io_is_off()
    {
        using var host = Build(new Flaky(0, () => new Exception()));

        Assert.False(host.Services.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value.Enabled);
    }
}

public class TransientErrorsTests
{
    [Fact]
    public void Busy_or_locked_sqlite_timeouts_and_redis_connection_losses_are_transient()
    {
        Assert.True(TransientErrors.IsTransient(new SqliteException("busy", 5)));
        Assert.True(TransientErrors.IsTransient(new SqliteException("busy snapshot", 5, 517)));
        Assert.True(TransientErrors.IsTransient(new SqliteException("locked", 6)));
        Assert.True(TransientErrors.IsTransient(new TimeoutException()));
        Assert.True(TransientErrors.IsTransient(new StackExchange.Redis.RedisConnectionException(StackExchange.Redis.ConnectionFailureType.SocketFailure, "gone")));
        Assert.True(TransientErrors.IsTransient(new StackExchange.Redis.RedisTimeoutException("slow", StackExchange.Redis.CommandStatus.Sent)));
    }

    [Fact]
    public void Bugs_bad_input_constraint_violations_and_cancellations_are_not()
    {
        Assert.False(TransientErrors.IsTransient(new SqliteException("UNIQUE constraint failed", 19)));
        Assert.False(TransientErrors.IsTransient(new SqliteException("no such table", 1)));
        Assert.False(TransientErrors.IsTransient(new InvalidOperationException()));
        Assert.False(TransientErrors.IsTransient(new ArgumentException()));
        Assert.False(TransientErrors.IsTransient(new OperationCanceledException()));
        Assert.False(TransientErrors.IsTransient(new TaskCanceledException()));
    }

    [Theory]
    [InlineData(1205, true)]
    [InlineData(-2, true)]
    [InlineData(1222, true)]
    [InlineData(40613, true)]
    [InlineData(2627, false)] // unique key violation: input, not weather
    [InlineData(547, false)]  // foreign key
    [InlineData(208, false)]  // invalid object name: a bug
    [InlineData(18456, false)]
    public void Sql_server_deadlocks_timeouts_and_failovers_are_transient_other_errors_are_not(int number, bool transient)
    {
        Assert.Equal(transient, Hub.Core.Data.SqlServerDialect.IsTransientNumber(number));
    }
}
