using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Hub.Core.Hosting;
using Hub.Dispatcher.Security;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Hub.Dispatcher.Delivery;

/// <summary>What one try of a delivery came to.</summary>
public enum AttemptOutcome { Succeeded, Failed, Gone }

/// <param name="TimedOut">No answer within the timeout (the metrics' <c>timeout</c> outcome).</param>
public sealed record AttemptResult(AttemptOutcome Outcome, int? StatusCode, long LatencyMs, string? Error, string? ResponseExcerpt, TimeSpan? RetryAfter,
    bool TimedOut = false);

/// <param name="TraceParent">Sent as <c>traceparent</c> (with <c>tracestate</c>) when no span of this try does it through HttpClient.</param>
public sealed record WebhookRequest(string Url, string Id, long Timestamp, string Signature, byte[] Body,
    string? TraceParent = null, string? TraceState = null);

/// <summary>
/// One HTTP try of a webhook, inside a Polly pipeline: a timeout over the whole try and one immediate
/// retry when the connection was refused within a second (a receiver restarting, not one that is down).
/// Redirects are not followed. Every address actually dialled is checked in <c>ConnectCallback</c>, so a
/// name that resolves to a private address (DNS rebinding included) is refused at connect time.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private const int ExcerptBytes = 4096;
    private static readonly TimeSpan QuickFailure = TimeSpan.FromSeconds(1);
    private readonly HttpClient _client;
    private readonly ResiliencePipeline _pipeline;
    private readonly TimeSpan _timeout;

    public WebhookSender(IOptions<DispatcherOptions> options, IOptions<HubOptions> hub)
    {
        var allowPrivate = hub.Value.WebhookAllowPrivate;
        _timeout = TimeSpan.FromSeconds(options.Value.TimeoutSeconds);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = 256,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            ConnectCallback = (context, ct) => ConnectAsync(context.DnsEndPoint, allowPrivate, ct),
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("Hub-Webhooks/1.0");
        _pipeline = new ResiliencePipelineBuilder()
            .AddTimeout(_timeout)
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = 1,
                Delay = TimeSpan.Zero,
                ShouldHandle = new PredicateBuilder().Handle<QuickConnectFailure>(),
            })
            .Build();
    }

    public async Task<AttemptResult> SendAsync(WebhookRequest webhook, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            return await _pipeline.ExecuteAsync(async token =>
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url)
                    {
                        Content = new ByteArrayContent(webhook.Body),
                    };
                    request.Content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
                    // Values Hub made itself (an ID, digits, base64): no need for the header parser's validation.
                    request.Headers.TryAddWithoutValidation("webhook-id", webhook.Id);
                    request.Headers.TryAddWithoutValidation("webhook-timestamp", webhook.Timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    request.Headers.TryAddWithoutValidation("webhook-signature", webhook.Signature);
                    if (webhook.TraceParent is not null)
                    {
                        request.Headers.TryAddWithoutValidation("traceparent", webhook.TraceParent);
                        if (webhook.TraceState is not null) request.Headers.TryAddWithoutValidation("tracestate", webhook.TraceState);
                    }
                    using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
                    var excerpt = await ExcerptAsync(response, token);
                    var status = (int)response.StatusCode;
                    var outcome = status is >= 200 and < 300 ? AttemptOutcome.Succeeded
                        : response.StatusCode == HttpStatusCode.Gone ? AttemptOutcome.Gone
                        : AttemptOutcome.Failed;
                    return new AttemptResult(outcome, status, watch.ElapsedMilliseconds,
                        outcome == AttemptOutcome.Succeeded ? null : $"HTTP {status}", excerpt, RetryAfter(response));
                }
                catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConnectionError
                    && e.InnerException is not AddressRefusedException
                    && Stopwatch.GetElapsedTime(started) < QuickFailure)
                {
                    throw new QuickConnectFailure(e);
                }
            }, ct);
        }
        catch (QuickConnectFailure e)
        {
            return Failed(watch, Describe(e.InnerException!));
        }
        catch (TimeoutRejectedException)
        {
            return Failed(watch, $"no answer within {_timeout.TotalSeconds:0.#} s") with { TimedOut = true };
        }
        catch (HttpRequestException e)
        {
            return Failed(watch, Describe(e));
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UriFormatException)
        {
            return Failed(watch, e.Message);
        }
    }

    private static AttemptResult Failed(Stopwatch watch, string error) =>
        new(AttemptOutcome.Failed, null, watch.ElapsedMilliseconds, error, null, null);

    private static string Describe(Exception e) => e.InnerException switch
    {
        AddressRefusedException refused => refused.Message,
        SocketException socket => $"connect failed: {socket.SocketErrorCode}",
        { } inner => $"{e.Message} ({inner.Message})",
        null => e.Message,
    };

    private static async Task<string?> ExcerptAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ExcerptBytes);
        try
        {
            var read = 0;
            while (read < ExcerptBytes)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read, ExcerptBytes - read), ct);
                if (n == 0) break;
                read += n;
            }
            return read == 0 ? null : Encoding.UTF8.GetString(buffer, 0, read);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta;
        if (header?.Date is { } date) return date - DateTimeOffset.UtcNow;
        return null;
    }

    private static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, bool allowPrivate, CancellationToken ct)
    {
        var addresses = IPAddress.TryParse(endpoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, ct);
        var allowed = allowPrivate ? addresses : addresses.Where(PublicAddress.IsPublic).ToArray();
        if (allowed.Length == 0)
            throw new AddressRefusedException(
                $"refused: {endpoint.Host} resolves only to non-public addresses ({string.Join(", ", addresses.Select(a => a.ToString()))}); set HUB_WEBHOOK_ALLOW_PRIVATE=true to allow them");

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, endpoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _client.Dispose();

    private sealed class QuickConnectFailure(Exception inner) : Exception(inner.Message, inner);
}
