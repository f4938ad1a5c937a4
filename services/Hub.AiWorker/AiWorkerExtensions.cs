using Hub.AiWorker.Llm;
using Hub.AiWorker.Replies;
using Hub.Core.Hosting;
using Microsoft.Extensions.Configuration;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hub.AiWorker;

public static class AiWorkerExtensions
{
    /// <summary>The <c>ai-worker</c> role: consumes <c>ProduceReply</c>, talks to the LLM, re-drives unanswered messages.</summary>
    public static IHostApplicationBuilder AddAiWorker(this IHostApplicationBuilder builder)
    {
        if (!builder.HasRole(HubRoles.AiWorker)) return builder;

        builder.Services.AddOptions<AiWorkerOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(sp => new LlmResilience(sp.GetRequiredService<IOptions<AiWorkerOptions>>().Value));
        builder.Services.AddSingleton<ReplyStore>();
        builder.Services.AddSingleton<ILlmProvider>(sp =>
            string.IsNullOrWhiteSpace(sp.GetRequiredService<IOptions<HubOptions>>().Value.LlmBaseUrl)
                ? new OfflineProvider()
                : ActivatorUtilities.CreateInstance<OpenAiProvider>(sp));
        builder.Services.AddHostedService<PendingReplyRedriver>();
        builder.Services.AddHostedService<TokenizerWarmUp>();

        builder.ConfigureHubBus(x =>
        {
            x.AddConsumer<ProduceReplyConsumer>().Endpoint(e => e.Name = "hub-ai-worker");
            // Sized from the bound options (HUB_AI_CONCURRENCY), read when the bus builds its endpoints.
            x.AddConfigureEndpointsCallback((context, name, e) =>
            {
                if (name != "hub-ai-worker") return;
                var concurrency = context.GetRequiredService<IOptions<AiWorkerOptions>>().Value.Concurrency;
                e.ConcurrentMessageLimit = concurrency;
                e.PrefetchCount = concurrency;
            });
        });
        return builder;
    }
}
