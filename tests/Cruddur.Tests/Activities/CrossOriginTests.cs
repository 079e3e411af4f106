using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Cruddur.Api.Authentication;
using Cruddur.Tests.Fixtures;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Cruddur.Tests.Activities;

/// <summary>
/// The CORS answers a browser reads (FrontendBrowserTests shows a browser acting on them): preflights, allowed and
/// listed origins, the endpoints that stay same-origin, and the feed's cache across origins. The Api has a Cognito pool
/// (a local JWKS server stands in for its keys, so an expired token can be signed) and two origins in FRONTEND_URL.
/// </summary>
public sealed class CrossOriginTests(PostgresServer server) : IAsyncLifetime
{
    private const string Frontend = "http://localhost:3000";
    private const string SecondFrontend = "http://127.0.0.1:3000";
    private const string Hostile = "http://evil.example";
    private const string Pool = "us-east-1_CrossOrigin";

    private readonly RSA _key = RSA.Create(2048);
    private TestDatabase _db = null!;
    private IpEchoServer _keys = null!;
    private ApiFactory _api = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(server, seed: true);
        var p = _key.ExportParameters(includePrivateParameters: false);
        _keys = IpEchoServer.Start(new JsonObject
        {
            ["keys"] = new JsonArray(new JsonObject
            {
                ["kty"] = "RSA",
                ["alg"] = "RS256",
                ["use"] = "sig",
                ["kid"] = "k1",
                ["n"] = Base64UrlEncoder.Encode(p.Modulus),
                ["e"] = Base64UrlEncoder.Encode(p.Exponent),
            }),
        }.ToJsonString());
        _api = new ApiFactory(_db.Url, new Dictionary<string, string?>
        {
            ["AWS_ENDPOINT_URL"] = _keys.Url,
            ["AWS_REGION"] = MotoServer.Region,
            [CognitoAuthenticationOptions.UserPoolIdKey] = Pool,
            [CognitoAuthenticationOptions.ClientIdsKey] = "frontend-client",
            ["FRONTEND_URL"] = $"{Frontend}, {SecondFrontend}/",
            ["HANGFIRE_DASHBOARD_USER"] = "operator",
            ["HANGFIRE_DASHBOARD_PASSWORD"] = "dash-Secret-42",
        });
        _http = _api.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _api.DisposeAsync();
        await _keys.DisposeAsync();
        await _db.DisposeAsync();
        _key.Dispose();
    }

    [Fact]
    public async Task A_preflight_of_the_frontends_post_is_answered_before_authentication_with_what_the_browser_needs()
    {
        var response = await PreflightAsync("/api/activities", Frontend, "POST", "accept,authorization,content-type,idempotency-key");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(Frontend, Header(response, "Access-Control-Allow-Origin"));
        // Only what some endpoint answers: a HEAD or DELETE the browser was told it may send would only get a 405.
        Assert.Equal(["GET", "POST"], Header(response, "Access-Control-Allow-Methods")!.Split(',', StringSplitOptions.TrimEntries).Order());
        Assert.Equal(
            ["accept", "authorization", "content-type", "idempotency-key"],
            Header(response, "Access-Control-Allow-Headers")!.ToLowerInvariant().Split(',', StringSplitOptions.TrimEntries).Order());
        Assert.Equal("600", Header(response, "Access-Control-Max-Age"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
    }

    [Theory]
    [InlineData(Hostile)]
    [InlineData("http://localhost:3001")]
    [InlineData("https://localhost:3000")]
    [InlineData("null")]
    public async Task An_origin_not_listed_gets_no_Access_Control_Allow_Origin(string origin)
    {
        var preflight = await PreflightAsync("/api/activities", origin, "POST", "authorization,content-type");
        var read = await GetAsync("/api/activities/home", origin);

        Assert.Null(Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode); // the server answers; the browser keeps the answer from the page
        Assert.Null(Header(read, "Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("/hangfire")]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/openapi/v1.json")]
    public async Task The_dashboard_health_and_the_OpenAPI_document_are_not_opened_cross_origin(string path)
    {
        var preflight = await PreflightAsync(path, Frontend, "POST", "authorization");
        var read = await GetAsync(path, Frontend);

        Assert.Null(Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Null(Header(read, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task A_feed_read_with_Bearer_null_or_an_expired_token_gets_the_feed_as_one_without_a_token()
    {
        var expired = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = $"https://cognito-idp.{MotoServer.Region}.amazonaws.com/{Pool}",
            IssuedAt = DateTime.UtcNow.AddHours(-2),
            NotBefore = DateTime.UtcNow.AddHours(-2),
            Expires = DateTime.UtcNow.AddHours(-1),
            Claims = new Dictionary<string, object> { ["sub"] = "someone", ["token_use"] = "access", ["client_id"] = "frontend-client" },
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(_key) { KeyId = "k1" }, SecurityAlgorithms.RsaSha256),
        });
        var anonymous = await (await GetAsync("/api/activities/home", Frontend)).Content.ReadAsStringAsync();

        foreach (var token in new[] { "null", expired })
        {
            var response = await GetAsync("/api/activities/home", Frontend, token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Frontend, Header(response, "Access-Control-Allow-Origin"));
            Assert.Equal(anonymous, await response.Content.ReadAsStringAsync());
        }
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("00000000-0000-4000-8000-00000000000")]
    [InlineData("expired")]
    public async Task A_missing_malformed_or_expired_activity_is_a_404_the_frontend_may_read(string id)
    {
        if (id == "expired")
        {
            id = (await _db.ScalarAsync<Guid>("""
                INSERT INTO activities (user_uuid, message, expires_at)
                SELECT uuid, 'gone by now', now() - interval '1 minute' FROM users WHERE handle = 'bayko' RETURNING uuid
                """)).ToString();
        }

        var response = await GetAsync($"/api/activities/{id}", Frontend, "null");

        // Without Access-Control-Allow-Origin the page would see "Failed to fetch" rather than the 404.
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(Frontend, Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_feeds_cache_answers_each_origin_with_its_own_CORS_headers()
    {
        var first = await GetAsync("/api/activities/home", Frontend);
        var second = await GetAsync("/api/activities/home", SecondFrontend);
        var hostile = await GetAsync("/api/activities/home", Hostile);
        var none = await GetAsync("/api/activities/home", origin: null);

        Assert.Equal(Frontend, Header(first, "Access-Control-Allow-Origin"));
        Assert.True(second.Headers.Age is not null, "the second read should come from the feed's cache"); // else this proves nothing
        Assert.Equal(SecondFrontend, Header(second, "Access-Control-Allow-Origin"));
        Assert.Null(Header(hostile, "Access-Control-Allow-Origin"));
        Assert.Null(Header(none, "Access-Control-Allow-Origin"));
        Assert.Contains("Origin", second.Headers.Vary);
        foreach (var response in new[] { first, second, hostile, none })
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task A_post_from_the_frontend_exposes_its_headers_to_the_page()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent("{}") };
        request.Headers.Add("Origin", Frontend);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await _http.SendAsync(request); // no token: 401, with its challenge readable by the page

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(Frontend, Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal(
            ["link", "location", "retry-after", "www-authenticate"],
            Header(response, "Access-Control-Expose-Headers")!.ToLowerInvariant().Split(',', StringSplitOptions.TrimEntries).Order());
    }

    private async Task<HttpResponseMessage> PreflightAsync(string path, string origin, string method, string headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return await _http.SendAsync(request);
    }

    private async Task<HttpResponseMessage> GetAsync(string path, string? origin, string? bearer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        if (bearer is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {bearer}");
        }
        if (path.StartsWith("/hangfire", StringComparison.Ordinal))
        {
            // The operator's credentials, so the dashboard answers its page (200) rather than a challenge.
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("operator:dash-Secret-42"u8));
        }
        return await _http.SendAsync(request);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;
}
