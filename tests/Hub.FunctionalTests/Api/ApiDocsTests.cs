using System.Net;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Hub.FunctionalTests.Infrastructure;

namespace Hub.FunctionalTests.Api;

/// <summary>The API documents itself: the OpenAPI document says what is required, and /docs renders it without the internet.</summary>
public sealed partial class ApiDocsTests(HubFixture hub) : IClassFixture<HubFixture>
{
    private async Task<JsonObject> OpenApiAsync()
    {
        using var client = hub.CreateClient();
        var response = await client.GetAsync("/openapi/v1.json");
        await response.AssertStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    /// <summary>The schema of an operation's JSON request body, with its <c>$ref</c> resolved.</summary>
    private static JsonObject RequestSchema(JsonObject document, string operationId)
    {
        var operation = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(o => o.Value!.AsObject()))
            .Single(o => o["operationId"]?.GetValue<string>() == operationId);
        var schema = operation["requestBody"]!["content"]!["application/json"]!["schema"]!.AsObject();
        return Resolve(document, schema);
    }

    private static JsonObject Resolve(JsonObject document, JsonObject schema) =>
        schema["$ref"]?.GetValue<string>() is { } reference
            ? document["components"]!["schemas"]![reference.Split('/')[^1]]!.AsObject()
            : schema;

    private static List<string> Required(JsonObject schema) =>
        schema["required"]?.AsArray().Select(r => r!.GetValue<string>()).ToList() ?? [];

    [Fact]
    public async Task Creating_a_bot_requires_only_its_name_in_the_openapi_document()
    {
        var document = await OpenApiAsync();

        var create = RequestSchema(document, "CreateBot");
        var update = RequestSchema(document, "UpdateBot");

        Assert.Equal(["name"], Required(create));
        Assert.Contains("instructions", create["properties"]!.AsObject().Select(p => p.Key));
        Assert.Empty(Required(update));
        foreach (var nested in new[] { "webhook", "handoff", "pricing" })
            Assert.Empty(Required(Resolve(document, NonNull(create["properties"]![nested]!.AsObject()))));
    }

    [Fact]
    public async Task Optional_request_fields_are_not_required_in_the_openapi_document()
    {
        var document = await OpenApiAsync();

        Assert.Equal(["content"], Required(RequestSchema(document, "SendMessage")));
        Assert.Empty(Required(RequestSchema(document, "CreateConversation")));
        Assert.Empty(Required(RequestSchema(document, "HandOffConversation")));
    }

    /// <summary>A nullable object property is <c>oneOf: [null, $ref]</c>; the object is the non-null branch.</summary>
    private static JsonObject NonNull(JsonObject property) =>
        property["oneOf"]?.AsArray().Select(s => s!.AsObject()).First(s => s["$ref"] is not null) ?? property;

    [Fact]
    public async Task The_api_reference_at_docs_is_served_with_its_own_script_and_no_outside_address()
    {
        using var client = hub.CreateClient();

        var page = await client.GetAsync("/docs");

        await page.AssertStatusAsync(HttpStatusCode.OK);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        var scripts = ScriptSources().Matches(html).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(scripts);
        Assert.DoesNotContain(scripts, s => s.StartsWith("http:", StringComparison.OrdinalIgnoreCase)
            || s.StartsWith("https:", StringComparison.OrdinalIgnoreCase) || s.StartsWith("//"));
        Assert.DoesNotContain("cdn.jsdelivr", html);
        Assert.DoesNotContain("fonts.scalar.com", html);
        foreach (var script in scripts)
        {
            var response = await client.GetAsync(new Uri(page.RequestMessage!.RequestUri!, script));
            await response.AssertStatusAsync(HttpStatusCode.OK);
            Assert.Contains("javascript", response.Content.Headers.ContentType?.MediaType);
            Assert.True((await response.Content.ReadAsByteArrayAsync()).Length > 1000, $"{script} is a real script");
        }
        // Relative, resolved by Scalar's loader against the app's base path: /openapi/v1.json.
        Assert.Contains("\"url\":\"openapi/v1.json\"", html);
        await (await client.GetAsync("/openapi/v1.json")).AssertStatusAsync(HttpStatusCode.OK);
    }

    [GeneratedRegex("<script[^>]*\\ssrc=\"([^\"]+)\"", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptSources();
}
