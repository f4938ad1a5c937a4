using System.Net.Mail;
using System.Text.Json;
using Dapper;
using Hub.Api.Auth;
using Hub.Api.Bots;
using Hub.Api.Errors;
using Hub.Core.Data;
using Hub.Core.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hub.Api.Agents;

public sealed class AgentRecord
{
    public string Id { get; init; } = "";
    public string Email { get; init; } = "";
    public string Name { get; init; } = "";
    public string PasswordHash { get; init; } = "";
    public string Role { get; init; } = "agent";
    public string BotIds { get; init; } = "[]";
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }

    public IReadOnlyList<string> BotIdList => JsonSerializer.Deserialize<string[]>(BotIds) ?? [];
}

/// <param name="BotIds">The bots whose conversations the agent sees; empty means all.</param>
public sealed record AgentInput(string? Email, string? Name, string? Password, string? Role, List<string>? BotIds);

public sealed record AgentView(string Id, string Email, string Name, string Role, IReadOnlyList<string> BotIds,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static AgentView Of(AgentRecord a) => new(a.Id, a.Email, a.Name, a.Role, a.BotIdList,
        DateTimeOffset.FromUnixTimeMilliseconds(a.CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(a.UpdatedAt));
}

/// <summary>The people of the inbox (admin only). Passwords are hashed through <see cref="PasswordHashing"/> (PBKDF2, salted).</summary>
public static class AgentsApi
{
    public static RouteGroupBuilder MapAgentsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/agents").WithTags("Agents").RequireAuthorization(AuthExtensions.AdminPolicy);
        group.MapPost("/", Create).WithName("CreateAgent").Accepts<AgentInput>("application/json");
        group.MapGet("/", List).WithName("ListAgents");
        group.MapGet("/{id}", Get).WithName("GetAgent");
        group.MapPatch("/{id}", Update).WithName("UpdateAgent").Accepts<AgentInput>("application/json");
        group.MapDelete("/{id}", Delete).WithName("DeleteAgent");
        return group;
    }

    internal static async Task<Results<Created<AgentView>, ValidationProblem, ProblemHttpResult>> Create(
        HttpRequest request, HubDb db, TimeProvider clock, PasswordHashing passwords)
    {
        var input = await JsonBody.ReadAsync<AgentInput>(request, 64 * 1024);
        var errors = await CheckAsync(input, db, creating: true);
        if (errors.Count > 0) return HubProblem.Validation(errors);

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var agent = new AgentRecord
        {
            Id = Ids.New("agt"),
            Email = input.Email!.Trim().ToLowerInvariant(),
            Name = input.Name!.Trim(),
            Role = input.Role ?? "agent",
            BotIds = JsonSerializer.Serialize(input.BotIds ?? []),
            CreatedAt = now,
            UpdatedAt = now,
        };
        agent = WithPassword(agent, await passwords.HashAsync(agent, input.Password!, request.HttpContext.RequestAborted));
        try
        {
            await db.ExecuteAsync(
                """
                INSERT INTO agents (id, email, name, password_hash, role, bot_ids, created_at, updated_at)
                VALUES (@Id, @Email, @Name, @PasswordHash, @Role, @BotIds, @CreatedAt, @UpdatedAt)
                """, agent);
        }
        catch (System.Data.Common.DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            return HubProblem.Conflict("An agent with this email exists.");
        }
        return TypedResults.Created($"/v1/agents/{agent.Id}", AgentView.Of(agent));
    }

    internal static async Task<Ok<ListResult<AgentView>>> List(HubDb db)
    {
        await using var c = await db.OpenAsync();
        var agents = await c.QueryAsync<AgentRecord>("SELECT * FROM agents ORDER BY created_at, id");
        return TypedResults.Ok(new ListResult<AgentView>(agents.Select(AgentView.Of).ToList(), null, false));
    }

    internal static async Task<Results<Ok<AgentView>, ProblemHttpResult>> Get(string id, HubDb db) =>
        await FindAsync(db, id) is { } agent ? TypedResults.Ok(AgentView.Of(agent)) : HubProblem.NotFound("The agent");

    internal static async Task<Results<Ok<AgentView>, ValidationProblem, ProblemHttpResult>> Update(
        string id, HttpRequest request, HubDb db, TimeProvider clock, PasswordHashing passwords)
    {
        var input = await JsonBody.ReadAsync<AgentInput>(request, 64 * 1024);
        var errors = await CheckAsync(input, db, creating: false);
        if (errors.Count > 0) return HubProblem.Validation(errors);
        if (await FindAsync(db, id) is not { } agent) return HubProblem.NotFound("The agent");

        var updated = new AgentRecord
        {
            Id = agent.Id,
            Email = input.Email?.Trim().ToLowerInvariant() ?? agent.Email,
            Name = input.Name?.Trim() ?? agent.Name,
            PasswordHash = agent.PasswordHash,
            Role = input.Role ?? agent.Role,
            BotIds = input.BotIds is null ? agent.BotIds : JsonSerializer.Serialize(input.BotIds),
            CreatedAt = agent.CreatedAt,
            UpdatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        if (input.Password is not null)
            updated = WithPassword(updated, await passwords.HashAsync(updated, input.Password, request.HttpContext.RequestAborted));
        try
        {
            var endSessions = input.Password is not null || input.Role is not null || input.BotIds is not null;
            await db.InTransactionAsync(async (c, tx) =>
            {
                await c.ExecuteAsync(
                    """
                    UPDATE agents SET email = @Email, name = @Name, password_hash = @PasswordHash, role = @Role,
                        bot_ids = @BotIds, updated_at = @UpdatedAt WHERE id = @Id
                    """, updated, tx);
                // A new password, role or scope ends the agent's sessions: they log in again under the new rules.
                if (endSessions) await c.ExecuteAsync("DELETE FROM agent_sessions WHERE agent_id = @id", new { id }, tx);
                return 0;
            });
        }
        catch (System.Data.Common.DbException e) when (db.Dialect.IsUniqueViolation(e))
        {
            return HubProblem.Conflict("An agent with this email exists.");
        }
        return TypedResults.Ok(AgentView.Of(updated));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> Delete(string id, HubDb db)
    {
        var deleted = await db.InTransactionAsync(async (c, tx) =>
        {
            await c.ExecuteAsync("DELETE FROM agent_sessions WHERE agent_id = @id", new { id }, tx);
            return await c.ExecuteAsync("DELETE FROM agents WHERE id = @id", new { id }, tx);
        });
        return deleted == 0 ? HubProblem.NotFound("The agent") : TypedResults.NoContent();
    }

    public static async Task<AgentRecord?> FindAsync(HubDb db, string id)
    {
        await using var c = await db.OpenAsync();
        return await c.QuerySingleOrDefaultAsync<AgentRecord>("SELECT * FROM agents WHERE id = @id", new { id });
    }

    private static AgentRecord WithPassword(AgentRecord agent, string passwordHash) => new()
    {
        Id = agent.Id, Email = agent.Email, Name = agent.Name, Role = agent.Role, BotIds = agent.BotIds,
        CreatedAt = agent.CreatedAt, UpdatedAt = agent.UpdatedAt,
        PasswordHash = passwordHash,
    };

    private static async Task<Dictionary<string, string[]>> CheckAsync(AgentInput input, HubDb db, bool creating)
    {
        var errors = new Dictionary<string, string[]>();
        if (creating || input.Email is not null)
        {
            if (string.IsNullOrWhiteSpace(input.Email) || input.Email.Length > 320 || !MailAddress.TryCreate(input.Email.Trim(), out _))
                errors["email"] = ["email must be a valid address."];
        }
        if ((creating || input.Name is not null) && (string.IsNullOrWhiteSpace(input.Name) || input.Name.Length > 200))
            errors["name"] = ["name must be 1 to 200 characters."];
        if ((creating || input.Password is not null) && (input.Password is null || input.Password.Length < 8 || input.Password.Length > 200))
            errors["password"] = ["password must be 8 to 200 characters."];
        if (input.Role is not (null or "agent" or "admin"))
            errors["role"] = ["role must be 'agent' or 'admin'."];
        if (input.BotIds is { Count: > 0 } botIds)
        {
            await using var c = await db.OpenAsync();
            var known = (await c.QueryAsync<string>("SELECT id FROM bots WHERE id IN @botIds", new { botIds })).ToHashSet();
            if (botIds.FirstOrDefault(b => !known.Contains(b)) is { } unknown) errors["bot_ids"] = [$"unknown bot '{unknown}'."];
        }
        return errors;
    }
}
