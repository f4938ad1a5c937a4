using Dapper;
using Hub.Core.Bots;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hub.Core.Data;

public static class HubStoreExtensions
{
    public static IHostApplicationBuilder AddHubStore(this IHostApplicationBuilder builder)
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        builder.Services.AddSingleton<HubDb>();
        builder.Services.AddSingleton<Migrator>();
        builder.Services.AddSingleton<BotCache>();
        builder.Services.AddHostedService<MigrationHostedService>();
        builder.Services.AddHostedService<SqliteCheckpointer>();
        return builder;
    }
}
