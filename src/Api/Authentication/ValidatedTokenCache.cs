using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Cruddur.Shared.Configuration;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.IdentityModel.Tokens;

namespace Cruddur.Api.Authentication;

/// <summary>How many validated access tokens the Api remembers (<c>VALIDATED_TOKEN_CACHE_SIZE</c>); 0 validates every one.</summary>
public sealed class ValidatedTokenCacheOptions
{
    [ConfigurationKeyName("VALIDATED_TOKEN_CACHE_SIZE"), Display(Name = "VALIDATED_TOKEN_CACHE_SIZE"), Range(0, 1_000_000)]
    public int Size { get; set; } = 10_000;
}

/// <summary>
/// Access tokens the JWT handler has already found valid, so that a user's next posts skip the RSA signature check
/// that was most of a signed-in post's extra CPU (docs/performance.md, "Where a signed-in post's CPU goes"). An entry
/// is keyed by the SHA-256 of the whole token, so a token with any byte changed never hits; it is served only before
/// the token's <c>exp</c> (by the Api's clock, without the validation's clock skew) and only while the signing keys it
/// was checked against are still the pool's current ones. At most <see cref="ValidatedTokenCacheOptions.Size"/>
/// entries: a token that finds the cache full is validated and not kept.
/// </summary>
public sealed class ValidatedTokenCache : IDisposable
{
    private readonly MemoryCache _entries;
    private readonly TimeProvider _clock;
    private long _hits;

    public ValidatedTokenCache(int size, TimeProvider clock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        _entries = new MemoryCache(new MemoryCacheOptions { SizeLimit = size });
        _clock = clock;
    }

    /// <summary>How many validated tokens are held now.</summary>
    public int Count => _entries.Count;

    /// <summary>How many validations were answered from the cache since the Api started.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    private sealed record Entry(ClaimsIdentity Identity, SecurityToken Token, object? SigningKeys, DateTimeOffset Expires);

    /// <summary>The token handlers of the JWT bearer scheme, each answering from this cache before it validates.</summary>
    internal TokenHandler Wrap(TokenHandler handler) => new CachingTokenHandler(handler, this);

    public void Dispose() => _entries.Dispose();

    private static string Key(string token) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>The pool's signing keys as the handler will see them: a new object once they are fetched again.</summary>
    private static async ValueTask<object?> SigningKeysAsync(TokenValidationParameters parameters) =>
        parameters.ConfigurationManager is { } keys ? await keys.GetBaseConfigurationAsync(CancellationToken.None) : parameters.IssuerSigningKeys;

    private sealed class CachingTokenHandler(TokenHandler inner, ValidatedTokenCache cache) : TokenHandler
    {
        public override int MaximumTokenSizeInBytes
        {
            get => inner.MaximumTokenSizeInBytes;
            set => inner.MaximumTokenSizeInBytes = value;
        }

        public override SecurityToken ReadToken(string token) => inner.ReadToken(token);

        public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
        {
            ArgumentNullException.ThrowIfNull(validationParameters);
            if (string.IsNullOrEmpty(token) || token.Length > MaximumTokenSizeInBytes)
            {
                return await inner.ValidateTokenAsync(token, validationParameters); // its own error, nothing to hash
            }
            object? signingKeys;
            try
            {
                signingKeys = await SigningKeysAsync(validationParameters);
            }
            catch (InvalidOperationException)
            {
                return await inner.ValidateTokenAsync(token, validationParameters); // no keys could be fetched: its own answer
            }
            var key = Key(token);
            if (cache._entries.TryGetValue(key, out Entry? hit) && hit is not null
                && ReferenceEquals(hit.SigningKeys, signingKeys) && cache._clock.GetUtcNow() < hit.Expires)
            {
                Interlocked.Increment(ref cache._hits);
                // A copy: the request's principal may be changed (claims transformation) without touching the cache's.
                return new TokenValidationResult { IsValid = true, ClaimsIdentity = hit.Identity.Clone(), SecurityToken = hit.Token };
            }

            var result = await inner.ValidateTokenAsync(token, validationParameters);
            var expires = result.SecurityToken?.ValidTo is { } validTo && validTo != DateTime.MinValue
                ? new DateTimeOffset(DateTime.SpecifyKind(validTo, DateTimeKind.Utc))
                : DateTimeOffset.MinValue; // no exp: never kept (the handler requires one anyway)
            if (result.IsValid && result.ClaimsIdentity is { } identity && cache._clock.GetUtcNow() < expires)
            {
                // Size 1 each: once SizeLimit entries are held, MemoryCache keeps no more and compacts in the background.
                cache._entries.Set(key, new Entry(identity.Clone(), result.SecurityToken!, signingKeys, expires),
                    new MemoryCacheEntryOptions { Size = 1, AbsoluteExpiration = expires });
            }
            return result;
        }
    }
}

public static class ValidatedTokenCacheExtensions
{
    /// <summary>
    /// Puts a <see cref="ValidatedTokenCache"/> in front of the JWT bearer scheme's token handlers, unless
    /// <c>VALIDATED_TOKEN_CACHE_SIZE</c> is 0. Call after <c>AddJwtBearer</c>.
    /// </summary>
    public static IServiceCollection AddValidatedTokenCache(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = services.AddSettings<ValidatedTokenCacheOptions>(configuration);
        if (settings.Size == 0)
        {
            return services;
        }
        services.AddSingleton(provider => new ValidatedTokenCache(settings.Size, provider.GetRequiredService<TimeProvider>()));
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<ValidatedTokenCache>((jwt, cache) =>
        {
            var handlers = jwt.TokenHandlers.Select(cache.Wrap).ToList(); // after AddJwtBearer's own options (MapInboundClaims)
            jwt.TokenHandlers.Clear();
            foreach (var handler in handlers)
            {
                jwt.TokenHandlers.Add(handler);
            }
        });
        return services;
    }
}
