using Dapper;
using Hub.Core.Bots;
using Hub.Core.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hub.Core.Data;

public static class HubStoreExtensions
{
    public static IHostApplicationBuilder AddHubStore(this IHostApplicationBuilder builder)
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        // The dialect is a service of its own so that a test can render and check what SQL Server would run.
        builder.Services.AddSingleton(sp => SqlDialect.For(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<HubOptions>>().Value.Database));
        builder.Services.AddSingleton<HubDb>();
        builder.Services.AddSingleton<Migrator>();
        builder.Services.AddSingleton<BotCache>();
        builder.Services.AddHostedService<MigrationHostedService>();
        builder.Services.AddHostedService<SqliteCheckpointer>();
        return builder;
    }
}
