namespace Hub.Core.Hosting;

/// <summary>The parts one process runs, from <c>HUB_ROLES</c> (any of <c>api,ai-worker,dispatcher</c>).</summary>
[Flags]
public enum HubRoles
{
    None = 0,
    Api = 1,
    AiWorker = 2,
    Dispatcher = 4,
    All = Api | AiWorker | Dispatcher,
}

public static class HubRolesParser
{
    public static HubRoles Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return HubRoles.All;
        var roles = HubRoles.None;
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            roles |= part.ToLowerInvariant() switch
            {
                "api" => HubRoles.Api,
                "ai-worker" => HubRoles.AiWorker,
                "dispatcher" => HubRoles.Dispatcher,
                "all" => HubRoles.All,
                _ => throw new InvalidOperationException(
                    $"HUB_ROLES has an unknown role '{part}'; use any of api, ai-worker, dispatcher."),
            };
        }
        return roles == HubRoles.None ? HubRoles.All : roles;
    }
}
