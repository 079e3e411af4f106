using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Cruddur.Shared.Configuration;

/// <summary>
/// The one way a setting is read: an options class bound from configuration by the flat environment names
/// (<c>[ConfigurationKeyName("WORKER_COUNT")]</c>), its defaults in the class (and, for operators, in the process's
/// appsettings.json), checked by its DataAnnotations. Each attribute carries <c>[Display(Name = "WORKER_COUNT")]</c>, so
/// an invalid value stops the process with a message that names the setting; nothing out of range is clamped.
/// </summary>
public static class Settings
{
    /// <summary>
    /// The host argument that reads appsettings.json once. Settings are read at startup and never reloaded, while
    /// the default reload watches every directory under the working directory and wakes on each write there:
    /// 8,445 directories for a test's process in the temp directory, and bin/up, run from the checkout, keeps its
    /// cluster and logs under it (.data/). In a lab run with the cluster under it, that watcher's thread took 1.3% of
    /// the machine's CPU (docs/lab/job-bookkeeping.md, "Arguments written once, one lookup per handle, settings read once").
    /// </summary>
    public const string ReadOnceArgument = "--hostBuilder:reloadConfigOnChange=false";

    /// <summary>
    /// Registers <typeparamref name="T"/> (as <c>IOptions&lt;T&gt;</c> and as itself), validated when the host starts,
    /// and returns it read and validated now, for what the registration itself needs (a pool size, a worker count).
    /// </summary>
    /// <exception cref="OptionsValidationException">A value is out of its range; the message names the setting.</exception>
    /// <exception cref="InvalidOperationException">A value is not of its type (not a number, not a duration); the message names the setting.</exception>
    public static T AddSettings<T>(this IServiceCollection services, IConfiguration configuration)
        where T : class, new()
    {
        services.AddOptions<T>().Configure(settings => WithoutBlanks(configuration).Bind(settings)).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(provider => provider.GetRequiredService<IOptions<T>>().Value);
        return Read<T>(configuration);
    }

    /// <summary><typeparamref name="T"/> bound from <paramref name="configuration"/> and validated.</summary>
    public static T Read<T>(IConfiguration configuration)
        where T : class, new() => Validate(WithoutBlanks(configuration).Get<T>() ?? new T());

    /// <summary>
    /// <paramref name="configuration"/> without its blank values: an exported but empty variable (<c>DB_SG_ID=</c>) or a
    /// null in appsettings.json is unset and keeps the default, as it always did, rather than binding as empty or zero.
    /// </summary>
    public static IConfiguration WithoutBlanks(IConfiguration configuration) => new ConfigurationBuilder()
        .AddInMemoryCollection(configuration.AsEnumerable().Where(setting => !string.IsNullOrWhiteSpace(setting.Value)))
        .Build();

    /// <summary>Checks <paramref name="settings"/>' DataAnnotations (after code changed them, say) and returns them.</summary>
    public static T Validate<T>(T settings)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(settings);
        var errors = new List<ValidationResult>();
        return Validator.TryValidateObject(settings, new ValidationContext(settings), errors, validateAllProperties: true)
            ? settings
            : throw new OptionsValidationException(typeof(T).Name, typeof(T), errors.Select(e => e.ErrorMessage ?? "invalid"));
    }
}
