using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Hub.Bench.Fakes;

/// <summary>
/// <c>POST /hooks/{name}</c>: records each try's <c>webhook-id</c> and outcome per hook name. A hook can be
/// told (<c>POST /control/hooks/{name}?fail_rate=&amp;secret=&amp;parse=1</c>, which also clears it) to
/// answer 500 to a fraction of tries, to check Standard Webhooks signatures (one HMAC, cheap), and to
/// read <c>data.reply_to</c> from successful bodies so the bench can match replies to the messages it sent.
/// <c>GET /control/hooks/{name}[?detail=1]</c> returns the counts.
/// </summary>
public static class WebhookReceiver
{
    private static readonly ConcurrentDictionary<string, Hook> Hooks = new();

    public static async Task ReceiveAsync(HttpContext http)
    {
        var hook = Hooks.GetOrAdd((string)http.Request.RouteValues["name"]!, _ => new Hook(0, null, false));
        var body = await ReadAsync(http.Request);
        string? id = http.Request.Headers["webhook-id"];
        var ok = hook.FailRate <= 0 || Random.Shared.NextDouble() >= hook.FailRate;
        bool? signed = hook.Key is null ? null : SignatureHolds(hook.Key, id, http.Request.Headers["webhook-timestamp"], http.Request.Headers["webhook-signature"], body);
        var replyTo = ok && hook.ParseReplyTo ? ReplyTo(body) : null;
        hook.Record(id, ok, signed, replyTo);

        if (ok)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentLength = 0;
            return;
        }
        http.Response.StatusCode = StatusCodes.Status500InternalServerError;
        await http.Response.WriteAsync("{\"error\":\"scripted failure\"}");
    }

    public static Task ConfigureAsync(HttpContext http)
    {
        var query = http.Request.Query;
        var failRate = double.TryParse(query["fail_rate"], NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : 0;
        string? secret = query["secret"];
        var key = string.IsNullOrEmpty(secret) ? null : Convert.FromBase64String(secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret[6..] : secret);
        Hooks[(string)http.Request.RouteValues["name"]!] = new Hook(failRate, key, query["parse"] == "1");
        http.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    }

    public static Task StatsAsync(HttpContext http)
    {
        var hook = Hooks.GetOrAdd((string)http.Request.RouteValues["name"]!, _ => new Hook(0, null, false));
        return FakeServers.WriteJsonAsync(http, hook.Stats(http.Request.Query["detail"] == "1"));
    }

    private static async Task<byte[]> ReadAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream(request.ContentLength is { } n and < 1 << 20 ? (int)n : 1024);
        await request.Body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    /// <summary>Standard Webhooks: <c>v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))</c>, any of the space-separated signatures.</summary>
    private static bool SignatureHolds(byte[] key, string? id, string? timestamp, string? header, byte[] body)
    {
        if (id is null || timestamp is null || header is null) return false;
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed, prefix.Length);
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
        return header.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(expected);
    }

    private static string? ReplyTo(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object
                && data.TryGetProperty("reply_to", out var replyTo) && replyTo.ValueKind == JsonValueKind.String
                ? replyTo.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed class Hook(double failRate, byte[]? key, bool parseReplyTo)
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, int> _okById = new();
        private readonly HashSet<string> _seen = new();
        private readonly Dictionary<string, HashSet<string>> _okIdsByReplyTo = new();
        private long _tries, _okTries, _failedTries, _badSignatures, _missingId;
        private double _firstOkMs, _lastOkMs;

        public double FailRate => failRate;
        public byte[]? Key => key;
        public bool ParseReplyTo => parseReplyTo;

        public void Record(string? id, bool ok, bool? signed, string? replyTo)
        {
            var now = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
            lock (_gate)
            {
                _tries++;
                if (signed == false) _badSignatures++;
                if (id is null) { _missingId++; return; }
                _seen.Add(id);
                if (!ok) { _failedTries++; return; }
                _okTries++;
                _okById[id] = _okById.GetValueOrDefault(id) + 1;
                if (_firstOkMs == 0) _firstOkMs = now;
                _lastOkMs = now;
                if (replyTo is not null)
                {
                    if (!_okIdsByReplyTo.TryGetValue(replyTo, out var ids)) _okIdsByReplyTo[replyTo] = ids = [];
                    ids.Add(id);
                }
            }
        }

        public JsonObject Stats(bool detail)
        {
            lock (_gate)
            {
                var stats = new JsonObject
                {
                    ["tries"] = _tries,
                    ["ok_tries"] = _okTries,
                    ["failed_tries"] = _failedTries,
                    ["distinct_ids"] = _seen.Count,
                    ["ok_ids"] = _okById.Count,
                    // A webhook-id answered 2xx more than once: delivered again after a success.
                    ["duplicate_ids"] = _okById.Values.Count(n => n > 1),
                    ["ok_reply_tos"] = _okIdsByReplyTo.Count,
                    // One user message whose reply arrived (2xx) under more than one webhook-id.
                    ["duplicate_reply_tos"] = _okIdsByReplyTo.Values.Count(ids => ids.Count > 1),
                    ["bad_signatures"] = _badSignatures,
                    ["missing_id"] = _missingId,
                    ["first_ok_unix_ms"] = _firstOkMs,
                    ["last_ok_unix_ms"] = _lastOkMs,
                };
                if (detail) stats["reply_tos"] = new JsonArray(_okIdsByReplyTo.Keys.Select(k => (JsonNode)k).ToArray());
                return stats;
            }
        }
    }
}
