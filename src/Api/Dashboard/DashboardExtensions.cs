using Cruddur.Shared.Configuration;
using Hangfire;
using Hangfire.Dashboard;

namespace Cruddur.Api.Dashboard;

public static class DashboardExtensions
{
    /// <summary>
    /// ASP.NET Core's antiforgery service. Hangfire's dashboard checks a POST's token (retry, delete) only when the
    /// service is registered: without it, a hostile page could submit a form to those actions, and an operator's
    /// browser would add the basic-auth credentials it has cached. With it, the dashboard's pages carry the token
    /// (csrf-token meta tags) that its own script sends back, and any other POST is answered 403.
    /// </summary>
    public static IServiceCollection AddCruddurDashboard(this IServiceCollection services) => services.AddAntiforgery();

    /// <summary>
    /// The Hangfire dashboard at <c>/hangfire</c>. Without credentials configured: local requests only
    /// (Hangfire's default). With <c>HANGFIRE_DASHBOARD_USER</c>/<c>_PASSWORD</c>: basic authentication from
    /// anywhere. <c>HANGFIRE_DASHBOARD_READONLY=true</c> hides retry and delete. The storage's connection
    /// string is never shown.
    /// </summary>
    public static WebApplication MapCruddurDashboard(this WebApplication app)
    {
        var settings = Settings.Read<DashboardAccessOptions>(app.Configuration);
        var (user, password, readOnly) = (settings.User, settings.Password, settings.ReadOnly);
        IDashboardAuthorizationFilter authorization = string.IsNullOrEmpty(user)
            ? new LocalRequestsOnlyAuthorizationFilter()
            : new BasicAuthenticationFilter(user, password!);

        app.UseHangfireDashboard("/hangfire", new DashboardOptions
        {
            DashboardTitle = "Cruddur jobs",
            Authorization = [authorization],
            IsReadOnlyFunc = _ => readOnly,
            DisplayStorageConnectionString = false,
            AppPath = null,
        }, app.Services.GetRequiredService<JobStorage>());
        app.Logger.LogInformation("Hangfire dashboard at /hangfire: {Access}{ReadOnly}",
            string.IsNullOrEmpty(user) ? "local requests only" : "basic authentication", readOnly ? ", read-only" : "");
        return app;
    }
}
