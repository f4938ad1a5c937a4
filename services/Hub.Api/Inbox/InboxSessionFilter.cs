using Dapper;
using Hub.Api.Auth;
using Hub.Core.Data;
using Microsoft.AspNetCore.SignalR;

namespace Hub.Api.Inbox;

/// <summary>
/// A hub connection authenticates once, when it opens, but an agent's session can end while it is open
/// (logout, the agent deleted, a new password, role or scope). Every invocation checks that the session
/// still stands; when it does not, the call is refused and the connection closed, so a deleted agent cannot
/// go on claiming and an agent keeps no rights it has lost.
/// </summary>
public sealed class InboxSessionFilter(HubDb db, TimeProvider clock) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocation, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        var session = invocation.Context.User?.FindFirst(HubClaims.SessionClaim)?.Value;
        if (session is not null)
        {
            await using var c = await db.OpenAsync();
            var live = await c.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM agent_sessions WHERE token_hash = @session AND expires_at > @now",
                new { session, now = clock.GetUtcNow().ToUnixTimeMilliseconds() });
            if (live == 0)
            {
                invocation.Context.Abort();
                throw new HubException("401 unauthorized: The session has ended; log in again.");
            }
        }
        return await next(invocation);
    }
}
