using Hub.Core.Telemetry;
using Hub.FunctionalTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Hub.FunctionalTests.Telemetry;

/// <summary>The console writes through Hub's formatter: text by default, JSON lines with <c>HUB_LOG_FORMAT=json</c>.</summary>
public sealed class LogFormatTests
{
    [Theory]
    [InlineData(null, false)]
    [InlineData("text", false)]
    [InlineData("json", true)]
    public async Task The_console_uses_hubs_formatter_in_the_chosen_format(string? format, bool json)
    {
        var settings = new Dictionary<string, string?>();
        if (format is not null) settings["HUB_LOG_FORMAT"] = format;
        await using var hub = HubFixture.With(settings);
        _ = hub.Server;

        Assert.Equal(HubConsoleFormatter.FormatterName, hub.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName);
        Assert.Equal(json, hub.Services.GetRequiredService<IOptionsMonitor<HubConsoleFormatterOptions>>().CurrentValue.Json);
        Assert.Contains(hub.Services.GetServices<ConsoleFormatter>(), f => f is HubConsoleFormatter);
    }
}
