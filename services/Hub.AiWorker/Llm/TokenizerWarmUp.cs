using Microsoft.Extensions.Hosting;

namespace Hub.AiWorker.Llm;

/// <summary>
/// Loads the o200k_base vocabulary when a worker with the offline provider starts (a fraction of a second,
/// seconds on a busy machine) instead of on its first reply; in the background, so start-up and /healthz do
/// not wait. With an LLM server the counter is a fallback for a server that reports no usage, so the
/// vocabulary (about 40 MB of heap) is loaded only if that happens.
/// </summary>
public sealed class TokenizerWarmUp(ILlmProvider llm) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (llm is OfflineProvider) _ = Task.Run(() => TokenCounter.Count("warm up"), CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
