using System.ComponentModel.DataAnnotations;

namespace Cruddur.Api.Users;

/// <summary>How long the Api remembers a user it found (<see cref="UserDirectory"/>); 0 turns the cache off.</summary>
public sealed class UserCacheOptions
{
    [ConfigurationKeyName("USER_CACHE_TTL_MS"), Display(Name = "USER_CACHE_TTL_MS"), Range(0, 3_600_000)]
    public int TimeToLiveMilliseconds { get; set; } = 5000;

    public TimeSpan TimeToLive => TimeSpan.FromMilliseconds(TimeToLiveMilliseconds);
}
