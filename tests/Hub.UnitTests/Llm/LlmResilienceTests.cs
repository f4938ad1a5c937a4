using Hub.AiWorker;
using Hub.AiWorker.Llm;

namespace Hub.UnitTests.Llm;

public class LlmResilienceTests
{
    private static readonly LlmRequest Request = new(null, null, [new("user", "Hi")], [], null);

    private static LlmResilience Resilience(int retries = 3) =>
        new(new AiWorkerOptions { LlmRetries = retries, LlmRetryDelayMilliseconds = 1 });

    /// <summary>Plays one scripted stream per call and counts the calls.</summary>
    private sealed class ScriptedProvider(params Func<IAsyncEnumerable<LlmUpdate>>[] attempts) : ILlmProvider
    {
        public int Calls;
        public string Name => "scripted";

        public IAsyncEnumerable<LlmUpdate> StreamAsync(LlmRequest request, CancellationToken ct)
        {
            var attempt = Interlocked.Increment(ref Calls) - 1;
            return attempts[Math.Min(attempt, attempts.Length - 1)]();
        }
    }

    private static async IAsyncEnumerable<LlmUpdate> Fails(Exception e)
    {
        await Task.Yield();
        throw e;
#pragma warning disable CS0162 // an iterator needs a yield
        yield break;
#pragma warning restore CS0162
    }

    private static async IAsyncEnumerable<LlmUpdate> Answers(params string[] chunks)
    {
        foreach (var chunk in chunks)
        {
            await Task.Yield();
            yield return new LlmUpdate(chunk);
        }
        yield return new LlmUpdate(null, new LlmTokenUsage(5, chunks.Length));
    }

    private static async IAsyncEnumerable<LlmUpdate> AnswersThenFails(string chunk, Exception e)
    {
        yield return new LlmUpdate(chunk);
        await Task.Yield();
        throw e;
    }

    private static async IAsyncEnumerable<LlmUpdate> Empty()
    {
        await Task.Yield();
        yield break;
    }

    [Fact]
    public async Task Transient_failures_before_the_first_chunk_are_retried()
    {
        var provider = new ScriptedProvider(
            () => Fails(new LlmTransientException("503")),
            () => Fails(new LlmTransientException("429")),
            () => Answers("Hello", " there"));

        var started = await Resilience().StartAsync(provider, Request, CancellationToken.None);

        Assert.Equal(3, provider.Calls);
        Assert.NotNull(started);
        Assert.Equal("Hello", started.Value.First.Text);
        await using var stream = started.Value.Stream;
        Assert.True(await stream.MoveNextAsync());
        Assert.Equal(" there", stream.Current.Text);
    }

    [Fact]
    public async Task After_the_configured_retries_the_transient_failure_is_final()
    {
        var provider = new ScriptedProvider(() => Fails(new LlmTransientException("503")));

        await Assert.ThrowsAsync<LlmTransientException>(() => Resilience(retries: 2).StartAsync(provider, Request, CancellationToken.None));

        Assert.Equal(1 + 2, provider.Calls);
    }

    [Fact]
    public async Task Permanent_failures_are_not_retried()
    {
        var provider = new ScriptedProvider(() => Fails(new LlmPermanentException("400")), () => Answers("never"));

        await Assert.ThrowsAsync<LlmPermanentException>(() => Resilience().StartAsync(provider, Request, CancellationToken.None));

        Assert.Equal(1, provider.Calls);
    }

    [Fact]
    public async Task A_failure_after_the_first_chunk_is_not_retried()
    {
        var provider = new ScriptedProvider(() => AnswersThenFails("Hel", new LlmTransientException("connection dropped")), () => Answers("never"));

        var started = await Resilience().StartAsync(provider, Request, CancellationToken.None);
        Assert.NotNull(started);
        Assert.Equal("Hel", started.Value.First.Text);
        await using var stream = started.Value.Stream;

        await Assert.ThrowsAsync<LlmTransientException>(async () => await stream.MoveNextAsync());
        Assert.Equal(1, provider.Calls);
    }

    [Fact]
    public async Task An_empty_stream_starts_nothing()
    {
        var provider = new ScriptedProvider(Empty);

        Assert.Null(await Resilience().StartAsync(provider, Request, CancellationToken.None));
        Assert.Equal(1, provider.Calls);
    }

    [Fact]
    public async Task Retry_After_from_the_server_sets_the_wait()
    {
        var provider = new ScriptedProvider(
            () => Fails(new LlmTransientException("429", retryAfter: TimeSpan.FromMilliseconds(300))),
            () => Answers("ok"));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Resilience().StartAsync(provider, Request, CancellationToken.None);

        Assert.Equal(2, provider.Calls);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(250), $"waited only {clock.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task A_cancelled_caller_is_not_retried()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var provider = new ScriptedProvider(() => Answers("never"));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Resilience().StartAsync(provider, Request, cts.Token));
        Assert.Equal(0, provider.Calls);
    }

    [Fact]
    public async Task With_no_retries_configured_a_transient_failure_is_final_at_once()
    {
        var provider = new ScriptedProvider(() => Fails(new LlmTransientException("503")), () => Answers("never"));

        await Assert.ThrowsAsync<LlmTransientException>(() => Resilience(retries: 0).StartAsync(provider, Request, CancellationToken.None));

        Assert.Equal(1, provider.Calls);
    }

    [Fact]
    public async Task A_negative_retry_delay_is_treated_as_none()
    {
        var resilience = new LlmResilience(new AiWorkerOptions { LlmRetries = 1, LlmRetryDelayMilliseconds = -5 });
        var provider = new ScriptedProvider(() => Fails(new LlmTransientException("503")), () => Answers("ok"));

        Assert.Equal("ok", (await resilience.StartAsync(provider, Request, CancellationToken.None))!.Value.First.Text);
    }
}
