using Hub.AiWorker;
using Hub.Api;
using Hub.Api.Health;
using Hub.Core.Hosting;
using Hub.Core.Telemetry;
using Hub.Dispatcher;

var builder = WebApplication.CreateBuilder(args);
builder.WebHost.UseUrls(builder.Configuration["HUB_URLS"] ?? builder.Configuration["urls"] ?? "http://127.0.0.1:5080");
builder.AddHubDefaults();
builder.AddHubTelemetry();
builder.AddHubHealth();
builder.AddHubApi();
builder.AddAiWorker();
builder.AddDispatcher();
builder.AddHubBus();

var app = builder.Build();
app.MapHubApi();
app.MapHubHealth();
app.MapHubTelemetry();
app.Run();

public partial class Program;
