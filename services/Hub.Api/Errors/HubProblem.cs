using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.Api.Errors;

/// <summary>
/// problem+json (RFC 9457) with the contract's stable <c>code</c>. Handlers return these; request parsing
/// throws <see cref="HubProblemException"/>, which the exception handler turns into the same shape.
/// </summary>
public static class HubProblem
{
    public static ProblemHttpResult Of(int status, string code, string? detail = null, IDictionary<string, object?>? extra = null)
    {
        var extensions = new Dictionary<string, object?> { ["code"] = code };
        if (extra is not null) foreach (var (k, v) in extra) extensions[k] = v;
        return TypedResults.Problem(detail, statusCode: status, title: TitleFor(status), type: TypeFor(code), extensions: extensions);
    }

    public static ValidationProblem Validation(string field, string message) => Validation(new() { [field] = [message] });

    public static ValidationProblem Validation(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, detail: string.Join(" ", errors.SelectMany(e => e.Value)),
            title: TitleFor(400), type: TypeFor("validation_failed"),
            extensions: new Dictionary<string, object?> { ["code"] = "validation_failed" });

    public static ProblemHttpResult NotFound(string what) => Of(404, "not_found", $"{what} was not found.");
    public static ProblemHttpResult Forbidden(string detail) => Of(403, "forbidden", detail);
    public static ProblemHttpResult Conflict(string detail) => Of(409, "conflict", detail);

    /// <summary>
    /// What was wrong with a JSON body, in JSON's words: System.Text.Json's own messages name .NET types
    /// ("could not be converted to System.String"), which a client neither needs nor should see.
    /// </summary>
    public static string JsonDetail(System.Text.Json.JsonException e)
    {
        var where = e.Path is { Length: > 1 } path ? $" at {path}" : "";
        var converted = System.Text.RegularExpressions.Regex.Match(e.Message, @"could not be converted to ([\w.`\[\],]+)");
        if (converted.Success) return $"The body is not valid JSON for this request{where}: expected {JsonKind(converted.Groups[1].Value)}.";
        return e.LineNumber is { } line
            ? $"The body is not valid JSON{where} (line {line + 1}, byte {e.BytePositionInLine + 1})."
            : $"The body is not valid JSON{where}.";
    }

    private static string JsonKind(string dotNetType) => dotNetType switch
    {
        var t when t.StartsWith("System.String") || t.StartsWith("System.Char") || t.StartsWith("System.DateTime") || t.StartsWith("System.Guid") => "a string",
        var t when t.StartsWith("System.Boolean") => "true or false",
        var t when t.StartsWith("System.Int") || t.StartsWith("System.UInt") || t.StartsWith("System.Double") || t.StartsWith("System.Decimal")
            || t.StartsWith("System.Single") || t.StartsWith("System.Nullable`1[[System.Int") || t.StartsWith("System.Nullable`1[[System.Double") => "a number",
        var t when t.Contains("List`1") || t.EndsWith("[]") || t.Contains("IEnumerable`1") || t.Contains("IReadOnlyList`1") => "an array",
        _ => "an object",
    };

    public static string TypeFor(string code) => $"https://hub.dev/problems/{code.Replace('_', '-')}";

    public static string CodeFor(int status) => status switch
    {
        400 => "validation_failed",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        _ when status >= 500 => "internal_error",
        _ => "bad_request",
    };

    public static string TitleFor(int status) => status switch
    {
        400 => "The request is not valid.",
        401 => "Missing or invalid credentials.",
        403 => "These credentials may not do that.",
        404 => "Not found.",
        405 => "Method not allowed.",
        409 => "Conflict.",
        413 => "Payload too large.",
        415 => "Unsupported media type.",
        429 => "Too many requests.",
        503 => "Service unavailable.",
        _ => "Error.",
    };
}

public sealed class HubProblemException(int status, string code, string detail, Dictionary<string, string[]>? errors = null)
    : Exception(detail)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public Dictionary<string, string[]>? Errors { get; } = errors;
    /// <summary>Sent as <c>Retry-After</c> (429, 503).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static HubProblemException Validation(string field, string message) =>
        new(400, "validation_failed", message, new() { [field] = [message] });
}
