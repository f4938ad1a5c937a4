using Microsoft.Extensions.Hosting;

namespace Hub.AiWorker.Llm;

/// <summary>
/// Loads the o200k_base vocabulary when the worker starts (a fraction of a second, seconds on a busy machine)
/// instead of on the first reply. In the background: start-up and /healthz do not wait for it.
/// </summary>
public sealed class TokenizerWarmUp : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(() => TokenCounter.Count("warm up"), CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
