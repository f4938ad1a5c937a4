using Microsoft.AspNetCore.OpenApi;
using Scalar.AspNetCore;

namespace Hub.Api.OpenApi;

/// <summary>The API describes itself: the OpenAPI document at <c>/openapi/v1.json</c> and a reference page over it at <c>/docs</c>.</summary>
public static class OpenApiExtensions
{
    public static IServiceCollection AddHubOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(o =>
        {
            // Two request bodies share a C# name (the bot's handoff settings, and the reason given on
            // POST /v1/conversations/{id}/handoff); left alone, one schema would describe both.
            o.CreateSchemaReferenceId = type =>
                type.Type == typeof(Conversations.HandoffInput) ? "ConversationHandoffInput"
                : OpenApiOptions.CreateDefaultSchemaReferenceId(type);
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Hub API";
                document.Info.Description = "A chatbot as an HTTP backend. The reference for this API is docs/API.md in the repository; " +
                    "errors are application/problem+json with a stable code.";
                return Task.CompletedTask;
            });
        });

    public static WebApplication MapHubOpenApi(this WebApplication app)
    {
        app.MapOpenApi();
        // Self-hosted means no call to the internet: the page's script is the one bundled in Scalar.AspNetCore
        // (served from /docs/), its fonts are the browser's, and Scalar's telemetry is off.
        app.MapScalarApiReference("/docs", o => o
            .WithTitle("Hub API")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json")
            .DisableDefaultFonts()
            .DisableTelemetry());
        return app;
    }
}
