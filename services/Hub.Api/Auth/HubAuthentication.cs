using System.Security.Claims;
using System.Text.Encodings.Web;
using Dapper;
using Hub.Api.Errors;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Hub.Api.Auth;

public static class HubClaims
{
    public const string Scheme = "HubKey";
    public const string BotIdClaim = "hub:bot_id";
    public const string KeyId = "hub:key_id";
    public const string AdminRole = "admin";

    public static bool IsAdmin(this ClaimsPrincipal user) => user.IsInRole(AdminRole);
    public static string? BotId(this ClaimsPrincipal user) => user.FindFirstValue(BotIdClaim);

    /// <summary>Which bot's data the caller may touch: its own for a bot key, any (null) for the admin.</summary>
    public static bool MaySee(this ClaimsPrincipal user, string botId) => user.IsAdmin() || user.BotId() == botId;

    /// <summary>What the rate limiter counts against: the key, never a shared bucket.</summary>
    public static string RateLimitPartition(this ClaimsPrincipal user) =>
        user.FindFirstValue(KeyId) ?? (user.IsAdmin() ? "admin" : "anonymous");
}

/// <summary>
/// <c>Authorization: Bearer …</c> with either the admin key or a bot key (stored as a SHA-256 hash).
/// 401 and 403 are written as the contract's problem+json.
/// </summary>
public sealed class HubKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    AdminKey adminKey,
    HubDb db) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return AuthenticateResult.NoResult();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return AuthenticateResult.Fail("Use Authorization: Bearer <key>.");
        var token = header["Bearer ".Length..].Trim();
        if (token.Length == 0 || token.Length > 512) return AuthenticateResult.Fail("Invalid key.");

        if (adminKey.Matches(token))
            return Success(new Claim(ClaimTypes.Role, HubClaims.AdminRole), new Claim(HubClaims.KeyId, "admin"));

        await using var c = await db.OpenAsync(Context.RequestAborted);
        var key = await c.QuerySingleOrDefaultAsync<(string Id, string BotId)?>(
            "SELECT id, bot_id FROM bot_keys WHERE key_hash = @hash", new { hash = Ids.HashKey(token) });
        return key is { } k
            ? Success(new Claim(HubClaims.BotIdClaim, k.BotId), new Claim(HubClaims.KeyId, k.Id), new Claim(ClaimTypes.Role, "bot"))
            : AuthenticateResult.Fail("Invalid key.");
    }

    private AuthenticateResult Success(params Claim[] claims) =>
        AuthenticateResult.Success(new AuthenticationTicket(
            new ClaimsPrincipal(new ClaimsIdentity(claims, HubClaims.Scheme)), HubClaims.Scheme));

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return Write(401, "unauthorized", "Send a valid key as Authorization: Bearer <key>.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Write(403, "forbidden", "This key may not do that.");

    private Task Write(int status, string code, string detail) =>
        HubProblem.Of(status, code, detail).ExecuteAsync(Context);
}

public static class AuthExtensions
{
    public const string AdminPolicy = "admin";
    public const string ClientPolicy = "client";

    public static IHostApplicationBuilder AddHubAuth(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AdminKey>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AdminKey>());
        builder.Services.AddAuthentication(HubClaims.Scheme)
            .AddScheme<AuthenticationSchemeOptions, HubKeyAuthenticationHandler>(HubClaims.Scheme, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.RequireRole(HubClaims.AdminRole))
            .AddPolicy(ClientPolicy, p => p.RequireRole(HubClaims.AdminRole, "bot"));
        return builder;
    }
}
