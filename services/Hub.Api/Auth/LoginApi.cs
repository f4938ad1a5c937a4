using Dapper;
using Hub.Api.Agents;
using Hub.Api.Errors;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.Api.Auth;

public sealed record LoginInput(string? Email, string? Password);
public sealed record LoginResult(string AccessToken, DateTimeOffset ExpiresAt, AgentView Agent);

/// <summary>
/// Agents log in with email and password. The answer sets an HttpOnly session cookie for the inbox page
/// and returns the same token as <c>access_token</c> for the SignalR hub. Sessions are stored hashed, so
/// every API process accepts them and logout or a password change ends them at once.
/// </summary>
public static class LoginApi
{
    private static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(12);

    public static RouteGroupBuilder MapLoginApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/auth").WithTags("Agents");
        group.MapPost("/login", Login).WithName("Login").Accepts<LoginInput>("application/json").AllowAnonymous();
        group.MapPost("/logout", Logout).WithName("Logout").RequireAuthorization(AuthExtensions.AgentPolicy);
        group.MapGet("/me", Me).WithName("Me").RequireAuthorization(AuthExtensions.AgentPolicy);
        return group;
    }

    /// <summary>
    /// The same work whether the email exists or not (see <see cref="PasswordHashing"/>); failures are counted
    /// per (email, address) and per address by <see cref="LoginThrottle"/>, which answers 429 past its limit.
    /// </summary>
    internal static async Task<Results<Ok<LoginResult>, ProblemHttpResult, ValidationProblem>> Login(
        HttpContext http, HubDb db, TimeProvider clock, PasswordHashing passwords, LoginThrottle throttle)
    {
        var input = await JsonBody.ReadAsync<LoginInput>(http.Request, 16 * 1024);
        if (string.IsNullOrWhiteSpace(input.Email) || string.IsNullOrEmpty(input.Password))
            return HubProblem.Validation(new() { ["email"] = ["email and password are required."] });

        var email = input.Email.Trim().ToLowerInvariant();
        var address = http.Connection.RemoteIpAddress;
        if (throttle.RetryAfter(email, address) is { } wait)
        {
            var seconds = (int)Math.Ceiling(wait.TotalSeconds);
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return HubProblem.Of(429, "rate_limited", $"Too many failed logins; try again in {seconds} s.");
        }

        AgentRecord? agent;
        await using (var c = await db.OpenAsync())
            agent = await c.QuerySingleOrDefaultAsync<AgentRecord>("SELECT * FROM agents WHERE email = @email", new { email });
        if (!await passwords.VerifyAsync(agent, input.Password, http.RequestAborted) || agent is null)
        {
            throttle.Failed(email, address);
            return HubProblem.Of(401, "unauthorized", "Wrong email or password.");
        }
        throttle.Succeeded(email, address);

        var now = clock.GetUtcNow();
        var expires = now + SessionLifetime;
        var token = HubClaims.SessionTokenPrefix + Ids.RandomToken(32);
        await db.InTransactionAsync(async (w, tx) =>
        {
            await w.ExecuteAsync(
                "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) VALUES (@hash, @Id, @now, @expires)",
                new { hash = Ids.HashKey(token), agent.Id, now = now.ToUnixTimeMilliseconds(), expires = expires.ToUnixTimeMilliseconds() }, tx);
            return await w.ExecuteAsync("DELETE FROM agent_sessions WHERE expires_at < @now", new { now = now.ToUnixTimeMilliseconds() }, tx);
        });

        http.Response.Cookies.Append(HubClaims.SessionCookie, token, new CookieOptions
        {
            HttpOnly = true,
            Secure = http.Request.IsHttps,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            Expires = expires,
        });
        return TypedResults.Ok(new LoginResult(token, expires, AgentView.Of(agent)));
    }

    internal static async Task<NoContent> Logout(HttpContext http, HubDb db)
    {
        var token = http.Request.Cookies[HubClaims.SessionCookie]
            ?? http.Request.Headers.Authorization.ToString().Replace("Bearer ", "", StringComparison.OrdinalIgnoreCase).Trim();
        await db.ExecuteAsync("DELETE FROM agent_sessions WHERE token_hash = @hash", new { hash = Ids.HashKey(token) });
        http.Response.Cookies.Delete(HubClaims.SessionCookie, new CookieOptions { Path = "/" });
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<AgentView>, ProblemHttpResult>> Me(System.Security.Claims.ClaimsPrincipal user, HubDb db) =>
        await AgentsApi.FindAsync(db, user.AgentId()!) is { } agent ? TypedResults.Ok(AgentView.Of(agent)) : HubProblem.NotFound("The agent");
}
