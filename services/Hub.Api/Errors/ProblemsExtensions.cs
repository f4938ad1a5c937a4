using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Hub.Api.Errors;

public static class ProblemsExtensions
{
    public static IHostApplicationBuilder AddHubProblems(this IHostApplicationBuilder builder)
    {
        // Registered before AddProblemDetails adds the default writer, so it is asked first (and always says yes).
        builder.Services.AddSingleton<IProblemDetailsWriter, HubProblemWriter>();
        builder.Services.AddProblemDetails();
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

/// <summary>
/// Writes every problem as <c>application/problem+json</c>, whatever the request's <c>Accept</c> says. The
/// default writer declines unless the client accepts JSON, so a browser (<c>Accept: text/html</c>) got an
/// empty body, and an exception handler that could not write became a logged 500. API clients parse the
/// <c>code</c>; a browser shows the JSON, which says more than an empty page.
/// </summary>
internal sealed class HubProblemWriter(IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        var status = problem.Status ?? http.Response.StatusCode;
        problem.Status = status;
        if (!problem.Extensions.ContainsKey("code"))
        {
            // Framework-made problems (404 from routing, 405, 415, status code pages): the contract's code and words.
            var code = HubProblem.CodeFor(status);
            problem.Extensions["code"] = code;
            problem.Type = HubProblem.TypeFor(code);
            problem.Title = HubProblem.TitleFor(status);
        }
        problem.Type ??= HubProblem.TypeFor((string)problem.Extensions["code"]!);
        problem.Title ??= HubProblem.TitleFor(status);
        problem.Extensions.Remove("traceId");
        problem.Extensions.Remove("exception");
        // The trace this request belongs to (the caller's own, when it sent a traceparent): the key to its spans and log lines.
        problem.Extensions["trace_id"] = System.Diagnostics.Activity.Current?.TraceId.ToHexString() ?? http.TraceIdentifier;
        return new ValueTask(http.Response.WriteAsJsonAsync(problem, problem.GetType(), json.Value.SerializerOptions,
            "application/problem+json", http.RequestAborted));
    }
}

/// <summary>
/// Client mistakes that surface as exceptions become 4xx problems, logged at debug at most; anything else is a
/// logged 500. Details never carry .NET's own exception text or type names: the client gets our words.
/// </summary>
internal sealed class HubExceptionHandler(IProblemDetailsService problems, ILogger<HubExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        var (status, code, detail, errors) = exception switch
        {
            HubProblemException p => (p.Status, p.Code, p.Message, p.Errors),
            BadHttpRequestException { StatusCode: 413 } => (413, "payload_too_large", "The request body is too large.", null),
            BadHttpRequestException { StatusCode: 415 } => (415, "unsupported_media_type", "Send the body as application/json.", null),
            BadHttpRequestException => (400, "validation_failed", "The request is not valid.", null),
            JsonException j => (400, "validation_failed", HubProblem.JsonDetail(j), null),
            OperationCanceledException when http.RequestAborted.IsCancellationRequested => (499, "client_closed", "The client went away.", null),
            _ => (500, "internal_error", "Something went wrong on our side.", (Dictionary<string, string[]>?)null),
        };
        if (status >= 500) logger.LogError(exception, "Unhandled error on {Method} {Path}", http.Request.Method, http.Request.Path);
        else logger.LogDebug("{Method} {Path} answered {Status} {Code}: {Detail}", http.Request.Method, http.Request.Path, status, code, detail);
        if (http.Response.HasStarted || status == 499) return true;

        http.Response.StatusCode = status;
        if (exception is HubProblemException { RetryAfterSeconds: { } retryAfter })
            http.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
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
