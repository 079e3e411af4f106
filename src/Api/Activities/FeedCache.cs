using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.OutputCaching;

namespace Cruddur.Api.Activities;

/// <summary>How long a page of the home feed is served from the Api's memory; 0 turns the cache off.</summary>
public sealed class FeedCacheOptions
{
    [ConfigurationKeyName("FEED_CACHE_MS"), Display(Name = "FEED_CACHE_MS"), Range(0, 60_000)]
    public int TimeToLiveMilliseconds { get; set; } = 1000;

    public TimeSpan TimeToLive => TimeSpan.FromMilliseconds(TimeToLiveMilliseconds);
}

/// <summary>
/// ASP.NET Core's output cache for the home feed: the same page for every reader (it is not personal), so one
/// query per page and <see cref="FeedCacheOptions.TimeToLive"/> serves any read rate, and concurrent misses wait
/// for one query instead of each running it. A reader sees a new post up to that much later, on top of the
/// moments a post takes to be stored after its 202. Only 200s are kept: a 400 is cheap, and a 503 must not
/// outlive the outage. Unlike the output cache's default policy, requests with a token are served too (the
/// frontend sends its Cognito token with every call, and the page does not depend on it).
/// </summary>
internal sealed class FeedCachePolicy(TimeSpan timeToLive) : IOutputCachePolicy
{
    public const string Name = "feed";

    public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        var get = HttpMethods.IsGet(context.HttpContext.Request.Method) || HttpMethods.IsHead(context.HttpContext.Request.Method);
        context.EnableOutputCaching = true;
        context.AllowCacheLookup = get;
        context.AllowCacheStorage = get;
        context.AllowLocking = true;
        context.ResponseExpirationTimeSpan = timeToLive;
        context.CacheVaryByRules.QueryKeys = new(["limit", "before"]);
        return ValueTask.CompletedTask;
    }

    public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellation) => ValueTask.CompletedTask;

    public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        if (context.HttpContext.Response.StatusCode != StatusCodes.Status200OK)
        {
            context.AllowCacheStorage = false;
        }
        return ValueTask.CompletedTask;
    }
}
