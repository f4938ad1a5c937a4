using System.Text.Json;
using Hub.Core.Hosting;
using Microsoft.Net.Http.Headers;

namespace Hub.Api.Errors;

/// <summary>
/// Reads a JSON request body within a size limit, with the contract's errors: 415 for another media
/// type, 413 beyond the limit, 400 for malformed JSON or a missing body. Never a 500.
/// </summary>
/// <remarks>
/// Kept instead of minimal APIs' typed body binding, which answers a body over the server's size limit with
/// 400 where the contract says 413 (dotnet/aspnetcore#47525, fixed as a 400 in #47584), has one limit per
/// server where Hub needs one per endpoint (4 MiB bots, 256 KiB messages, 64 KiB conversations), and words its
/// errors with .NET parameter and type names. README, "Request bodies".
/// </remarks>
public static class JsonBody
{
    public const int DefaultLimit = 256 * 1024;

    public static async Task<T> ReadAsync<T>(HttpRequest request, int limit = DefaultLimit) where T : class
    {
        if (!IsJson(request.ContentType))
            throw new HubProblemException(415, "unsupported_media_type", "Send the body as application/json.");
        if (request.ContentLength > limit)
            throw new HubProblemException(413, "payload_too_large", $"The body may be at most {limit} bytes.");

        // Sized from Content-Length when it is given; the read chunk is pooled (a fresh 16 KB per request was
        // a measurable share of the API's allocations).
        var buffer = new MemoryStream(request.ContentLength is > 0 and var length ? (int)length : 1024);
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
            {
                if (buffer.Length + read > limit)
                    throw new HubProblemException(413, "payload_too_large", $"The body may be at most {limit} bytes.");
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }
        if (buffer.Length == 0) throw new HubProblemException(400, "validation_failed", "The request needs a JSON body.");

        try
        {
            return JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), HubJson.Options)
                ?? throw new HubProblemException(400, "validation_failed", "The body must be a JSON object.");
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } path ? Truncate(path.TrimStart('$', '.')) : "body";
            var detail = HubProblem.JsonDetail(e);
            throw new HubProblemException(400, "validation_failed", detail, new() { [field] = [detail] });
        }
    }

    /// <summary>
    /// True when the request carries no body at all (<c>Content-Length: 0</c>, or neither a length nor chunked
    /// encoding), for endpoints whose every field is optional. A chunked body is not "empty" just because its
    /// length is unknown.
    /// </summary>
    public static bool IsEmpty(HttpRequest request) =>
        request.ContentLength == 0
        || request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false;

    /// <summary>A path into deeply nested JSON can be thousands of characters; the start says enough.</summary>
    private static string Truncate(string path) => path.Length <= 100 ? path : path[..100] + "…";

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && media.MediaType.HasValue
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.MediaType.Value!.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
}
