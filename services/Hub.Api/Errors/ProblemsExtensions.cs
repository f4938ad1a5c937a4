using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Hub.Api.Errors;

public static class ProblemsExtensions
{
    public static IHostApplicationBuilder AddHubProblems(this IHostApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            var status = ctx.ProblemDetails.Status ?? ctx.HttpContext.Response.StatusCode;
            if (!ctx.ProblemDetails.Extensions.ContainsKey("code"))
            {
                var code = HubProblem.CodeFor(status);
                ctx.ProblemDetails.Extensions["code"] = code;
                ctx.ProblemDetails.Type = HubProblem.TypeFor(code);
                ctx.ProblemDetails.Title = HubProblem.TitleFor(status);
            }
            ctx.ProblemDetails.Extensions.Remove("traceId");
        });
        builder.Services.AddExceptionHandler<HubExceptionHandler>();
        return builder;
    }

    public static WebApplication UseHubProblems(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }
}

/// <summary>Client mistakes that surface as exceptions become 4xx problems; anything else is a logged 500.</summary>
internal sealed class HubExceptionHandler(IProblemDetailsService problems, ILogger<HubExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        var (status, code, detail, errors) = exception switch
        {
            HubProblemException p => (p.Status, p.Code, p.Message, p.Errors),
            BadHttpRequestException { StatusCode: 413 } => (413, "payload_too_large", "The request body is too large.", null),
            BadHttpRequestException b => (400, "validation_failed", b.Message, null),
            JsonException j => (400, "validation_failed", $"The body is not valid JSON: {j.Message}", null),
            OperationCanceledException when http.RequestAborted.IsCancellationRequested => (499, "client_closed", "The client went away.", null),
            _ => (500, "internal_error", "Something went wrong on our side.", (Dictionary<string, string[]>?)null),
        };
        if (status >= 500) logger.LogError(exception, "Unhandled error on {Method} {Path}", http.Request.Method, http.Request.Path);
        if (http.Response.HasStarted || status == 499) return true;

        http.Response.StatusCode = status;
        ProblemDetails problem = errors is null
            ? new ProblemDetails()
            : new HttpValidationProblemDetails(errors);
        problem.Status = status;
        problem.Title = HubProblem.TitleFor(status);
        problem.Type = HubProblem.TypeFor(code);
        problem.Detail = detail;
        problem.Extensions["code"] = code;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem, Exception = exception });
    }
}
