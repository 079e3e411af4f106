using System.ComponentModel.DataAnnotations;

namespace Cruddur.Api.Dashboard;

/// <summary>Who may open <c>/hangfire</c>: local requests only, or basic authentication with both credentials.</summary>
public sealed class DashboardAccessOptions : IValidatableObject
{
    [ConfigurationKeyName("HANGFIRE_DASHBOARD_USER")]
    public string? User { get; set; }

    [ConfigurationKeyName("HANGFIRE_DASHBOARD_PASSWORD")]
    public string? Password { get; set; }

    /// <summary>A second credential, whose requests see the dashboard read-only.</summary>
    [ConfigurationKeyName("HANGFIRE_DASHBOARD_VIEWER_USER")]
    public string? ViewerUser { get; set; }

    [ConfigurationKeyName("HANGFIRE_DASHBOARD_VIEWER_PASSWORD")]
    public string? ViewerPassword { get; set; }

    /// <summary>Hides retry and delete.</summary>
    [ConfigurationKeyName("HANGFIRE_DASHBOARD_READONLY")]
    public bool ReadOnly { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrEmpty(User) != string.IsNullOrEmpty(Password))
        {
            yield return new ValidationResult("Set both HANGFIRE_DASHBOARD_USER and HANGFIRE_DASHBOARD_PASSWORD, or neither.");
        }
        if (string.IsNullOrEmpty(ViewerUser) != string.IsNullOrEmpty(ViewerPassword))
        {
            yield return new ValidationResult("Set both HANGFIRE_DASHBOARD_VIEWER_USER and HANGFIRE_DASHBOARD_VIEWER_PASSWORD, or neither.");
        }
        if (!string.IsNullOrEmpty(ViewerUser) && string.IsNullOrEmpty(User))
        {
            yield return new ValidationResult("HANGFIRE_DASHBOARD_VIEWER_USER needs HANGFIRE_DASHBOARD_USER and HANGFIRE_DASHBOARD_PASSWORD: without them the dashboard answers local requests only.");
        }
        if (!string.IsNullOrEmpty(ViewerUser) && ViewerUser == User)
        {
            yield return new ValidationResult("HANGFIRE_DASHBOARD_VIEWER_USER must differ from HANGFIRE_DASHBOARD_USER.");
        }
    }
}

/// <summary>Where the Apis keep the data-protection keys that sign the dashboard's antiforgery tokens.</summary>
public sealed class DataProtectionKeysOptions
{
    [ConfigurationKeyName("DATA_PROTECTION_KEYS_DIR")]
    public string? Directory { get; set; }
}
