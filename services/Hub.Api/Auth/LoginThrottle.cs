using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;

namespace Hub.Api.Auth;

/// <summary>
/// Failed logins counted per (email, client address) and, looser, per address, in a window that starts at
/// the first failure. Past the limit, logins for that pair (or from that address) answer 429 until the
/// window ends, even with the right password, so guessing cannot go on; a successful login clears its pair.
/// Counts live in this process: with several API processes behind a balancer each keeps its own, so the
/// effective limit is at most the process count times <see cref="LoginOptions.MaxFailures"/>.
/// </summary>
public sealed class LoginThrottle(IOptions<LoginOptions> options, TimeProvider clock)
{
    private const int SweepAbove = 10_000;

    private sealed class Window(DateTimeOffset start)
    {
        public DateTimeOffset Start = start;
        public int Failures;
    }

    private readonly ConcurrentDictionary<string, Window> _windows = new();
    private readonly LoginOptions _options = options.Value;
    private long _lastSweep;

    /// <summary>How long the caller must wait, or null when it may try.</summary>
    public TimeSpan? RetryAfter(string email, IPAddress? address)
    {
        var now = clock.GetUtcNow();
        var pair = Blocked(PairKey(email, address), _options.MaxFailures, now);
        var byAddress = Blocked(AddressKey(address), _options.MaxFailuresPerAddress, now);
        return pair is null ? byAddress : byAddress is null ? pair : (pair > byAddress ? pair : byAddress);
    }

    public void Failed(string email, IPAddress? address)
    {
        var now = clock.GetUtcNow();
        Count(PairKey(email, address), now);
        Count(AddressKey(address), now);
        if (_windows.Count > SweepAbove) Sweep(now);
    }

    public void Succeeded(string email, IPAddress? address) => _windows.TryRemove(PairKey(email, address), out _);

    /// <summary>Windows held (pairs and addresses): bounded by the sweep.</summary>
    public int Windows => _windows.Count;

    private TimeSpan? Blocked(string key, int limit, DateTimeOffset now)
    {
        if (!_windows.TryGetValue(key, out var window)) return null;
        lock (window)
        {
            var ends = window.Start + _options.Window;
            if (now >= ends || window.Failures < limit) return null;
            return ends - now;
        }
    }

    private void Count(string key, DateTimeOffset now)
    {
        var window = _windows.GetOrAdd(key, static (_, now) => new Window(now), now);
        lock (window)
        {
            if (now >= window.Start + _options.Window)
            {
                window.Start = now;
                window.Failures = 0;
            }
            window.Failures++;
        }
    }

    // Anonymous callers choose the emails and (without a proxy in front) the addresses: drop ended windows
    // so the table cannot grow without bound.
    private void Sweep(DateTimeOffset now)
    {
        // At most once a minute: with that many live windows, sweeping on every failure would cost O(n) each.
        var last = Interlocked.Read(ref _lastSweep);
        if (now.ToUnixTimeMilliseconds() - last < 60_000 || Interlocked.CompareExchange(ref _lastSweep, now.ToUnixTimeMilliseconds(), last) != last) return;
        foreach (var (key, window) in _windows)
        {
            bool ended;
            lock (window) ended = now >= window.Start + _options.Window;
            if (ended) _windows.TryRemove(new KeyValuePair<string, Window>(key, window));
        }
    }

    private static string Address(IPAddress? address) =>
        address is null ? "unknown" : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    private static string PairKey(string email, IPAddress? address) => "pair\n" + Address(address) + "\n" + email;
    private static string AddressKey(IPAddress? address) => "addr\n" + Address(address);
}
