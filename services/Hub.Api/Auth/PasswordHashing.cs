using Hub.Api.Agents;
using Hub.Api.Errors;
using Hub.Core.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Hub.Api.Auth;

/// <summary>
/// Agents' passwords, kept with ASP.NET Core's <see cref="PasswordHasher{TUser}"/> (PBKDF2, salted; ~100 ms of
/// one core per hash on purpose). Two rules make that cost safe to expose on an anonymous endpoint:
/// <list type="bullet">
/// <item>An unknown email is verified against a dummy hash made with the same parameters, so it costs the
/// same as a wrong password and the answer's timing does not tell which emails exist.</item>
/// <item>At most <see cref="LoginOptions.HashSlots"/> hashes run at once, on the thread pool, awaited without
/// holding a thread: a burst of logins queues here (briefly, then 503) instead of taking every core
/// from the rest of the API.</item>
/// </list>
/// </summary>
public sealed class PasswordHashing
{
    private static readonly PasswordHasher<AgentRecord> Hasher = new();
    private static readonly AgentRecord Nobody = new();

    private readonly SemaphoreSlim _slots;
    private readonly TimeSpan _wait;
    private readonly string _dummyHash;
    private long _verifications;

    public PasswordHashing(IOptions<LoginOptions> options)
    {
        _slots = new SemaphoreSlim(options.Value.HashSlots, options.Value.HashSlots);
        _wait = TimeSpan.FromMilliseconds(options.Value.HashWaitMilliseconds);
        _dummyHash = Hasher.HashPassword(Nobody, Ids.RandomToken(24));
    }

    /// <summary>How many passwords were verified (known email or not): lets a test see that both paths did the same work.</summary>
    public long Verifications => Interlocked.Read(ref _verifications);

    /// <summary>True only when <paramref name="agent"/> exists and the password is its own; the same work either way.</summary>
    public async Task<bool> VerifyAsync(AgentRecord? agent, string password, CancellationToken ct)
    {
        var verdict = await RunAsync(() => Hasher.VerifyHashedPassword(agent ?? Nobody, agent?.PasswordHash ?? _dummyHash, password), ct);
        Interlocked.Increment(ref _verifications);
        return agent is not null && verdict != PasswordVerificationResult.Failed;
    }

    public Task<string> HashAsync(AgentRecord agent, string password, CancellationToken ct) =>
        RunAsync(() => Hasher.HashPassword(agent, password), ct);

    private async Task<T> RunAsync<T>(Func<T> work, CancellationToken ct)
    {
        if (!await _slots.WaitAsync(_wait, ct))
            throw new HubProblemException(503, "unavailable", "Too many logins at once; try again in a moment.") { RetryAfterSeconds = 1 };
        try
        {
            // Off the request's own continuation: the hash runs on a pool thread while the slot bounds how many do.
            return await Task.Run(work, ct);
        }
        finally
        {
            _slots.Release();
        }
    }
}
