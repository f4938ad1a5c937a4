using Polly;
using Polly.Retry;

namespace Hub.AiWorker.Llm;

/// <summary>
/// Retries transient LLM failures (429, 5xx, timeouts, dropped connections) with exponential back-off
/// and jitter, honouring <c>Retry-After</c>. Only the start of a reply is retried: once text has reached
/// a streaming caller, a retry would repeat it, so a failure after the first chunk is final.
/// </summary>
public sealed class LlmResilience
{
    private readonly ResiliencePipeline _pipeline;

    public LlmResilience(AiWorkerOptions options)
    {
        // Polly refuses MaxRetryAttempts = 0, so HUB_LLM_RETRIES=0 means no retry strategy at all.
        if (options.LlmRetries < 1)
        {
            _pipeline = ResiliencePipeline.Empty;
            return;
        }
        _pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<LlmTransientException>(),
                MaxRetryAttempts = options.LlmRetries,
                Delay = TimeSpan.FromMilliseconds(Math.Max(0, options.LlmRetryDelayMilliseconds)),
                MaxDelay = TimeSpan.FromSeconds(30),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is LlmTransientException { RetryAfter: { } after } && after > TimeSpan.Zero
                        ? (TimeSpan?)TimeSpan.FromSeconds(Math.Min(after.TotalSeconds, 30))
                        : null),
            })
            .Build();
    }

    /// <summary>Opens the stream and reads its first update under the retry policy.</summary>
    public async Task<(IAsyncEnumerator<LlmUpdate> Stream, LlmUpdate First)?> StartAsync(
        ILlmProvider provider, LlmRequest request, CancellationToken ct)
    {
        return await _pipeline.ExecuteAsync(async token =>
        {
            var stream = provider.StreamAsync(request, token).GetAsyncEnumerator(token);
            try
            {
                if (!await stream.MoveNextAsync())
                {
                    await stream.DisposeAsync();
                    return ((IAsyncEnumerator<LlmUpdate>, LlmUpdate)?)null;
                }
                return (stream, stream.Current);
            }
            catch
            {
                await stream.DisposeAsync();
                throw;
            }
        }, ct);
    }
}
