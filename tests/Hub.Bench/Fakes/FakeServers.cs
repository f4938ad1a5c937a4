using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hub.Bench.Fakes;

/// <summary>
/// <c>Hub.Bench serve-fakes</c>: the fake LLM, the webhook receiver and an OTLP sink, each a Kestrel server on its
/// own loopback port, in a process of their own so that their CPU is not the hub's. Prints one line
/// <c>FAKES {"llm":…,"receiver":…,"otlp":…}</c> when all three listen, and exits when its standard input closes (the
/// bench went away).
/// </summary>
public static class FakeServers
{
    public const string ReadyPrefix = "FAKES ";

    public static async Task<int> RunAsync()
    {
        var llm = Build();
        llm.MapPost("/v1/chat/completions", (RequestDelegate)FakeLlm.CompleteAsync);
        llm.MapGet("/control/llm", (RequestDelegate)FakeLlm.StatsAsync);

        var receiver = Build();
        receiver.MapPost("/hooks/{name}", (RequestDelegate)WebhookReceiver.ReceiveAsync);
        receiver.MapPost("/control/hooks/{name}", (RequestDelegate)WebhookReceiver.ConfigureAsync);
        receiver.MapGet("/control/hooks/{name}", (RequestDelegate)WebhookReceiver.StatsAsync);

        var otlp = Build();
        otlp.MapPost("/v1/{signal}", (RequestDelegate)OtlpSink.ReceiveAsync);
        otlp.MapGet("/control/otlp", (RequestDelegate)OtlpSink.StatsAsync);

        await llm.StartAsync();
        await receiver.StartAsync();
        await otlp.StartAsync();
        var ready = new JsonObject { ["llm"] = Address(llm), ["receiver"] = Address(receiver), ["otlp"] = Address(otlp) };
        Console.Out.WriteLine(ReadyPrefix + ready.ToJsonString());
        Console.Out.Flush();

        await Task.Run(() => Console.In.ReadToEnd());
        await Task.WhenAll(llm.StopAsync(), receiver.StopAsync(), otlp.StopAsync()).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        return 0;
    }

    private static WebApplication Build()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(15);
            k.Limits.MinResponseDataRate = null;
        });
        return builder.Build();
    }

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/');

    internal static async Task WriteJsonAsync(HttpContext http, JsonNode node)
    {
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(node.ToJsonString());
    }

    internal static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);
}
