using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Cruddur.Api.Authentication;
using Cruddur.Tests.Fixtures;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Cruddur.Tests.Activities;

/// <summary>
/// Signed-in POSTs with the Api's cache of validated access tokens (VALIDATED_TOKEN_CACHE_SIZE): a token seen
/// before is accepted without its signature being checked again, and nothing else gets in that would not without
/// the cache. The pool is played by a local JWKS server and tokens signed here, so that their lifetimes and the
/// pool's keys can be chosen (moto_server signs with one fixed key, for an hour).
/// </summary>
public sealed class ValidatedTokenCacheTests(PostgresServer server, MotoServer moto) : IAsyncLifetime
{
    private const string Pool = "us-east-1_TokenCache";
    private const string Client = "token-cache-client";
    private const string Sub = "token-cache-sub";
    private const int CacheSize = 3;
    private const string Hello = """{"message":"Hello from a cached token","ttl":"1-day"}""";

    private readonly RSA _first = RSA.Create(2048);
    private readonly RSA _rotated = RSA.Create(2048);
    private TestDatabase _db = null!;
    private IpEchoServer _keys = null!;
    private ApiFactory _api = null!;
    private HttpClient _http = null!;
    private ValidatedTokenCache _cache = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(server, seed: true);
        await _db.ExecuteAsync($"INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('Cache Example', 'cache', 'cache@example.com', '{Sub}')");
        _keys = IpEchoServer.Start(SignedInPostTests.Jwks((_first, "first")));
        _api = new ApiFactory(_db.Url, new Dictionary<string, string?>(moto.Environment)
        {
            ["AWS_ENDPOINT_URL"] = _keys.Url,
            [CognitoAuthenticationOptions.UserPoolIdKey] = Pool,
            [CognitoAuthenticationOptions.ClientIdsKey] = Client,
            ["VALIDATED_TOKEN_CACHE_SIZE"] = CacheSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        _http = _api.CreateClient();
        _cache = _api.Services.GetRequiredService<ValidatedTokenCache>();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _api.DisposeAsync();
        await _keys.DisposeAsync();
        await _db.DisposeAsync();
        _first.Dispose();
        _rotated.Dispose();
    }

    [Fact]
    public async Task A_token_validated_once_is_accepted_from_the_cache_on_the_next_post()
    {
        var token = Token(_first, "first", DateTime.UtcNow.AddHours(1));

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(token)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(token)).StatusCode);

        Assert.Equal((1, 1L), (_cache.Count, _cache.Hits));
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
    }

    [Theory]
    [InlineData("signature")]
    [InlineData("payload")]
    [InlineData("header")]
    public async Task A_cached_token_with_one_byte_changed_is_refused(string part)
    {
        var token = Token(_first, "first", DateTime.UtcNow.AddHours(1));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(token)).StatusCode);

        var changed = ChangeOneByte(token, part switch { "header" => 0, "payload" => 1, _ => 2 });
        var response = await PostAsync(changed);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(0L, _cache.Hits);
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(token)).StatusCode); // the original still is
    }

    [Fact]
    public async Task A_cached_token_is_not_served_past_its_exp_and_is_refused_once_it_has_expired()
    {
        var expires = DateTime.UtcNow.AddSeconds(3);
        var token = Token(_first, "first", expires);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(token)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(token)).StatusCode);
        Assert.Equal(1L, _cache.Hits);

        // Past exp, but within the validation's clock skew: the handler still accepts it, the cache does not answer.
        await Task.Delay(expires - DateTime.UtcNow + TimeSpan.FromMilliseconds(500));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(token)).StatusCode);
        Assert.Equal(1L, _cache.Hits);

        await Task.Delay(expires + CognitoAuthenticationExtensions.ClockSkew - DateTime.UtcNow + TimeSpan.FromSeconds(1));
        var response = await PostAsync(token);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("expired", response.Headers.WwwAuthenticate.Single().Parameter ?? "", StringComparison.Ordinal);
        Assert.Equal(1L, _cache.Hits);
    }

    [Fact]
    public async Task The_cache_holds_no_more_tokens_than_VALIDATED_TOKEN_CACHE_SIZE_and_the_others_still_post()
    {
        for (var i = 0; i < 4 * CacheSize; i++)
        {
            Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(Token(_first, "first", DateTime.UtcNow.AddHours(1)))).StatusCode);
            Assert.InRange(_cache.Count, 1, CacheSize);
        }
        // Posts one after another share open jobs: the posts are counted in the jobs' payloads.
        Assert.Equal(4L * CacheSize, await _db.ScalarAsync<long>(
            "SELECT sum(jsonb_array_length(((arguments ->> 1)::jsonb #>> '{}')::jsonb))::bigint FROM hangfire.job"));
    }

    [Fact]
    public async Task A_cached_token_is_validated_again_once_the_pool_publishes_other_signing_keys()
    {
        var old = Token(_first, "first", DateTime.UtcNow.AddHours(1));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(old)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(old)).StatusCode);
        Assert.Equal(1L, _cache.Hits);

        // The pool rotates: only the new key is published, and a token signed with it makes the Api fetch the keys again.
        _keys.Answer = SignedInPostTests.Jwks((_rotated, "rotated"));
        await Eventually.ReachesAsync(async () => (await PostAsync(Token(_rotated, "rotated", DateTime.UtcNow.AddHours(1)))).StatusCode,
            status => status == HttpStatusCode.Accepted, "a token signed with the rotated key to be accepted");

        // Not from the cache: the handler decides again. It still accepts it, from IdentityModel's last known good keys
        // (kept an hour after a refresh, as without the cache); a forged token with the old kid it refuses.
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(old)).StatusCode);
        Assert.Equal(1L, _cache.Hits);
        using var forged = RSA.Create(2048);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(Token(forged, "first", DateTime.UtcNow.AddHours(1)))).StatusCode);
    }

    [Fact]
    public async Task A_token_gets_401_and_nothing_is_kept_while_the_pools_keys_cannot_be_fetched()
    {
        _keys.Down();

        var response = await PostAsync(Token(_first, "first", DateTime.UtcNow.AddHours(1)));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal((0, 0L), (_cache.Count, _cache.Hits));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
    }

    [Fact]
    public async Task An_invalid_VALIDATED_TOKEN_CACHE_SIZE_stops_the_api_at_startup_with_a_message_naming_it()
    {
        await using var api = ServiceProcess.Start(Repository.ApiDll, new Dictionary<string, string?>(moto.Environment)
        {
            ["CONNECTION_URL"] = "postgresql://cruddur@127.0.0.1:1/none", // nothing listens: it must stop before connecting
            [CognitoAuthenticationOptions.UserPoolIdKey] = Pool,
            [CognitoAuthenticationOptions.ClientIdsKey] = Client,
            ["VALIDATED_TOKEN_CACHE_SIZE"] = "-1",
        }, "--urls", $"http://127.0.0.1:{PortAllocator.Free()}");

        var exitCode = await api.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(exitCode != 0, api.Output);
        Assert.Contains("VALIDATED_TOKEN_CACHE_SIZE", api.Output, StringComparison.Ordinal);
    }

    private async Task<HttpResponseMessage> PostAsync(string accessToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent(Hello, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return await _http.SendAsync(request);
    }

    /// <summary>An access token as Cognito writes one, for the test's user, a new one each call (its own jti).</summary>
    private static string Token(RSA key, string kid, DateTime expires) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = $"https://cognito-idp.{MotoServer.Region}.amazonaws.com/{Pool}",
        IssuedAt = expires.AddHours(-1),
        NotBefore = expires.AddHours(-1),
        Expires = expires,
        Claims = new Dictionary<string, object> { ["sub"] = Sub, ["token_use"] = "access", ["client_id"] = Client, ["jti"] = Guid.NewGuid().ToString() },
        SigningCredentials = new SigningCredentials(new RsaSecurityKey(key) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
    });

    /// <summary>The token with one character in the middle of one of its three parts changed.</summary>
    private static string ChangeOneByte(string token, int part)
    {
        var parts = token.Split('.');
        var chars = parts[part].ToCharArray();
        var i = chars.Length / 2;
        chars[i] = chars[i] == 'A' ? 'B' : 'A';
        parts[part] = new string(chars);
        return string.Join('.', parts);
    }
}
