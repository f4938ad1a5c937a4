using System.Net;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests;

public sealed class OperationsTests(HubFixture hub) : IClassFixture<HubFixture>
{
    [Fact]
    public async Task Healthz_answers_200_without_credentials()
    {
        using var client = hub.CreateClient();

        var response = await client.GetAsync("/healthz");

        await response.AssertStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Readyz_answers_200_and_reports_the_database()
    {
        using var client = hub.CreateClient();

        var response = await client.GetAsync("/readyz");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var body = await response.JsonAsync();
        Assert.Equal("healthy", body.Str("status"));
        Assert.Equal("healthy", body["checks"]!["database"]!.Str("status"));
    }

    [Fact]
    public async Task OpenApi_document_lists_the_public_endpoints()
    {
        using var client = hub.CreateClient();

        var response = await client.GetAsync("/openapi/v1.json");

        await response.AssertStatusAsync(HttpStatusCode.OK);
        var paths = (await response.JsonAsync())["paths"]!.AsObject();
        Assert.Contains("/v1/conversations/{id}/messages", paths.Select(p => p.Key));
        Assert.NotNull(paths["/v1/conversations/{id}/messages"]!["post"]);
        Assert.NotNull(paths["/v1/conversations/{id}/messages"]!["get"]);
        foreach (var path in new[] { "/v1/bots", "/v1/conversations", "/v1/conversations/{id}", "/v1/usage" })
            Assert.Contains(path, paths.Select(p => p.Key));
    }

    [Fact]
    public async Task A_process_without_the_api_role_still_serves_health_but_not_the_api()
    {
        await using var worker = HubFixture.With(new Dictionary<string, string?> { ["HUB_ROLES"] = "ai-worker,dispatcher" });
        using var client = worker.Admin();

        await (await client.GetAsync("/healthz")).AssertStatusAsync(HttpStatusCode.OK);
        await (await client.GetAsync("/readyz")).AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/bots")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task An_api_only_process_serves_the_api_and_health()
    {
        await using var api = HubFixture.With(new Dictionary<string, string?> { ["HUB_ROLES"] = "api" });
        using var admin = api.Admin();

        await (await admin.GetAsync("/healthz")).AssertStatusAsync(HttpStatusCode.OK);
        await (await admin.GetAsync("/readyz")).AssertStatusAsync(HttpStatusCode.OK);
        await (await admin.GetAsync("/v1/bots")).AssertStatusAsync(HttpStatusCode.OK);
        await (await admin.GetAsync("/openapi/v1.json")).AssertStatusAsync(HttpStatusCode.OK);
    }
}
