using System.Diagnostics;
using Hub.Core.Telemetry;

namespace Hub.AiWorker.Llm;

/// <summary>
/// One LLM call as telemetry sees it: a client span after OpenTelemetry's gen_ai conventions (the HTTP call
/// to the provider, when there is one, nests inside it) and <c>hub.llm.request.duration</c> by provider and
/// model, from the request to the last chunk (retries before the first chunk included).
/// </summary>
public sealed class LlmCallTelemetry : IDisposable
{
    private readonly HubMetrics _metrics;
    private readonly Activity? _activity;
    private readonly string _provider;
    private readonly string _model;
    private readonly long _started = Stopwatch.GetTimestamp();

    private LlmCallTelemetry(HubMetrics metrics, string provider, string model)
    {
        _metrics = metrics;
        _provider = provider;
        _model = model;
        _activity = HubTracing.Llm.StartActivity($"chat {model}", ActivityKind.Client);
        if (_activity is { IsAllDataRequested: true })
        {
            _activity.SetTag("gen_ai.operation.name", "chat");
            _activity.SetTag("gen_ai.provider.name", provider);
            _activity.SetTag("gen_ai.request.model", model);
        }
    }

    public static LlmCallTelemetry Start(HubMetrics metrics, ILlmProvider provider, LlmRequest request) =>
        new(metrics, provider.Name, provider.ModelFor(request));

    /// <summary>The provider's own count, when it sent one.</summary>
    public void Usage(LlmTokenUsage usage)
    {
        if (_activity is not { IsAllDataRequested: true }) return;
        _activity.SetTag("gen_ai.usage.input_tokens", usage.PromptTokens);
        _activity.SetTag("gen_ai.usage.output_tokens", usage.CompletionTokens);
    }

    public void Failed(string code, Exception e)
    {
        if (_activity is null) return;
        _activity.SetTag("error.type", code);
        _activity.SetStatus(ActivityStatusCode.Error, e.Message);
    }

    public void Dispose()
    {
        _metrics.LlmRequest(_provider, _model, Stopwatch.GetElapsedTime(_started));
        _activity?.Dispose();
    }
}
