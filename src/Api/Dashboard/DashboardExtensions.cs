using Cruddur.Shared.Configuration;
using Hangfire;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.DataProtection;

namespace Cruddur.Api.Dashboard;

public static class DashboardExtensions
{
    /// <summary>
    /// ASP.NET Core's antiforgery service. Hangfire's dashboard checks a POST's token (retry, delete) only when the
    /// service is registered: without it, a hostile page could submit a form to those actions, and an operator's
    /// browser would add the basic-auth credentials it has cached. With it, the dashboard's pages carry the token
    /// (csrf-token meta tags) that its own script sends back, and any other POST is answered 403.
    /// </summary>
    /// <remarks>
    /// The token is protected with ASP.NET Core's data-protection keys. Each Api makes its own (in its home directory, or in
    /// memory without one), so behind several Apis, or after a restart without a home, the token a page carries from one
    /// Api is refused by another: <c>DATA_PROTECTION_KEYS_DIR</c> names a directory they all share (EFS, a volume), and
    /// one application name makes their keys one set whatever path each runs from.
    /// </remarks>
    public static IServiceCollection AddCruddurDashboard(this IServiceCollection services, IConfiguration configuration)
    {
        var keys = services.AddDataProtection().SetApplicationName("cruddur-api");
        if (Settings.Read<DataProtectionKeysOptions>(configuration).Directory is { Length: > 0 } directory)
        {
            keys.PersistKeysToFileSystem(new DirectoryInfo(directory));
        }
        return services.AddAntiforgery();
    }

    /// <summary>
    /// The Hangfire dashboard at <c>/hangfire</c>. Without credentials configured: local requests only
    /// (Hangfire's default). With <c>HANGFIRE_DASHBOARD_USER</c>/<c>_PASSWORD</c>: basic authentication from
    /// anywhere, and with <c>HANGFIRE_DASHBOARD_VIEWER_USER</c>/<c>_PASSWORD</c> a second credential that only looks.
    /// <c>HANGFIRE_DASHBOARD_READONLY=true</c> hides retry and delete from everyone. The storage's connection string is
    /// never shown.
    /// </summary>
    public static WebApplication MapCruddurDashboard(this WebApplication app)
    {
        var settings = Settings.Read<DashboardAccessOptions>(app.Configuration);
        var (user, password, readOnly) = (settings.User, settings.Password, settings.ReadOnly);
        IDashboardAuthorizationFilter authorization = string.IsNullOrEmpty(user)
            ? new LocalRequestsOnlyAuthorizationFilter()
            : new BasicAuthenticationFilter(user, password!, settings.ViewerUser, settings.ViewerPassword);

        app.UseHangfireDashboard("/hangfire", new DashboardOptions
        {
            DashboardTitle = "Cruddur jobs",
            Authorization = [authorization],
            IsReadOnlyFunc = context => readOnly || BasicAuthenticationFilter.IsViewer(context),
            DisplayStorageConnectionString = false,
            AppPath = null,
        }, app.Services.GetRequiredService<JobStorage>());
        app.Logger.LogInformation("Hangfire dashboard at /hangfire: {Access}{ReadOnly}",
            string.IsNullOrEmpty(user) ? "local requests only" : "basic authentication",
            readOnly ? ", read-only" : string.IsNullOrEmpty(settings.ViewerUser) ? "" : ", and a read-only viewer");
        if (string.IsNullOrEmpty(user) && !app.Environment.IsDevelopment())
        {
            // Behind a proxy or sidecar on this machine every request is local, and the dashboard would be open to all.
            app.Logger.LogWarning("Hangfire dashboard without HANGFIRE_DASHBOARD_USER and HANGFIRE_DASHBOARD_PASSWORD: a proxy on this machine makes every request local; set them");
        }
        return app;
    }
}
