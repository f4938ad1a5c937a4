using Hub.Core.Hosting;

namespace Hub.UnitTests.Core;

public class HubRolesParserTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("all")]
    [InlineData("api,ai-worker,dispatcher")]
    public void Unset_or_all_runs_every_role(string? value)
    {
        Assert.Equal(HubRoles.All, HubRolesParser.Parse(value));
    }

    [Theory]
    [InlineData("api", HubRoles.Api)]
    [InlineData("ai-worker", HubRoles.AiWorker)]
    [InlineData("dispatcher", HubRoles.Dispatcher)]
    [InlineData("api,ai-worker", HubRoles.Api | HubRoles.AiWorker)]
    [InlineData(" API , Dispatcher ", HubRoles.Api | HubRoles.Dispatcher)]
    [InlineData("api,api", HubRoles.Api)]
    public void Listed_roles_are_the_ones_run(string value, HubRoles expected)
    {
        Assert.Equal(expected, HubRolesParser.Parse(value));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("worker")]
    [InlineData("api,webhooks")]
    public void An_unknown_role_is_refused_by_name(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => HubRolesParser.Parse(value));

        Assert.Contains("HUB_ROLES", error.Message);
        Assert.Contains($"'{value.Split(',')[^1]}'", error.Message);
    }
}
