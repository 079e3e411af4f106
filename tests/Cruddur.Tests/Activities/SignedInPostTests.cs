using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cruddur.Api.Authentication;
using Cruddur.Tests.Fixtures;
using Cruddur.Shared.Users;
using Cruddur.Worker.Activities;
using Cruddur.Worker.Users;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Cruddur.Tests.Activities;

/// <summary>
/// POST /api/activities with COGNITO_USER_POOL_ID set: the access token (from moto_server's Cognito, as the frontend
/// gets it) decides who posts; anything less is answered and queues nothing. Reads stay open.
/// </summary>
public sealed class SignedInPostTests(PostgresServer server, MotoServer moto) : IAsyncLifetime
{
    private const string Hello = """{"message":"Hello, signed in!","ttl":"1-day"}""";

    private TestDatabase _db = null!;
    private InProcessWorker _worker = null!;
    private ApiFactory _api = null!;
    private HttpClient _http = null!;
    private MotoCognito _pool = null!;
    private CognitoTestUser _alice = null!;
    private CognitoTestUser _bob = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(server, seed: true);
        _pool = await MotoCognito.CreateAsync(moto);
        _alice = await _pool.SignUpAndSignInAsync("alice");
        _bob = await _pool.SignUpAndSignInAsync("bob");
        // Their sign-ups already ingested (CognitoSignUpTests covers that path): rows keyed on the pool's sub.
        await _db.ExecuteAsync($"""
            INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES
              ('Alice Example', 'alice', 'alice@example.com', '{_alice.Sub}'),
              ('Bob Example', 'bob', 'bob@example.com', '{_bob.Sub}')
            """);
        _worker = await InProcessWorker.StartAsync(_db.Url, [typeof(ActivityFunctions)]);
        _api = new ApiFactory(_db.Url, new Dictionary<string, string?>(moto.Environment)
        {
            [CognitoAuthenticationOptions.UserPoolIdKey] = _pool.PoolId,
            [CognitoAuthenticationOptions.ClientIdsKey] = $"some-other-client, {_pool.AppClientId}",
        });
        _http = _api.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _api.DisposeAsync();
        await _worker.DisposeAsync();
        await _db.DisposeAsync();
        _pool.Dispose();
    }

    [Fact]
    public async Task A_valid_access_token_posts_as_its_user_and_the_stored_row_is_theirs()
    {
        var response = await PostAsync(Hello, _alice.AccessToken);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("alice", "Alice Example"), (accepted.GetProperty("handle").GetString(), accepted.GetProperty("display_name").GetString()));
        var uuid = accepted.GetProperty("uuid").GetGuid();
        Assert.Equal(_alice.Sub, await WaitForAuthorSubAsync(uuid));

        // Naming oneself is allowed too, as the frontend sends it.
        var named = await PostAsync("""{"user_handle":"bob","message":"Me, by name","ttl":"1-hour"}""", _bob.AccessToken);
        Assert.Equal(HttpStatusCode.Accepted, named.StatusCode);
        var namedUuid = JsonDocument.Parse(await named.Content.ReadAsStringAsync()).RootElement.GetProperty("uuid").GetGuid();
        Assert.Equal(_bob.Sub, await WaitForAuthorSubAsync(namedUuid));
    }

    [Theory]
    [InlineData("no token")]
    [InlineData("one changed byte")]
    [InlineData("another pool's token")]
    [InlineData("an ID token")]
    [InlineData("a client not in COGNITO_CLIENT_IDS")]
    [InlineData("not a JWT")]
    public async Task A_missing_or_bad_token_gets_401_with_WWW_Authenticate_and_queues_nothing(string token)
    {
        var bearer = token switch
        {
            "no token" => null,
            "one changed byte" => ChangeOneByte(_alice.AccessToken),
            "another pool's token" => await AnotherPoolsTokenAsync(),
            "an ID token" => _alice.IdToken,
            "a client not in COGNITO_CLIENT_IDS" => (await _pool.SignInAsync("alice", await _pool.CreateClientAsync())).AccessToken,
            _ => "not-a-jwt",
        };

        var response = await PostAsync("""{"user_handle":"alice","message":"Let me in","ttl":"1-day"}""", bearer);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        if (bearer is not null)
        {
            Assert.Contains("error=\"invalid_token\"", challenge.Parameter ?? "", StringComparison.Ordinal);
        }
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM activities WHERE message = 'Let me in'"));
    }

    [Fact]
    public async Task A_token_of_one_user_with_another_users_handle_gets_403_and_queues_nothing()
    {
        var response = await PostAsync("""{"user_handle":"bob","message":"I am Bob, honest","ttl":"1-day"}""", _alice.AccessToken);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("@alice", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));
    }

    [Fact]
    public async Task A_token_whose_user_has_no_row_yet_gets_409_with_Retry_After_then_posts_once_the_sign_up_is_stored()
    {
        var carol = await _pool.SignUpAndSignInAsync("carol");

        var early = await PostAsync(Hello, carol.AccessToken);

        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), early.Headers.RetryAfter?.Delta);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM hangfire.job"));

        await _db.ExecuteAsync($"INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES ('Carol', 'carol', 'carol@example.com', '{carol.Sub}')");
        var later = await PostAsync(Hello, carol.AccessToken);
        Assert.Equal(HttpStatusCode.Accepted, later.StatusCode); // "unknown" was not remembered
    }

    [Fact]
    public async Task A_sign_up_whose_handle_is_taken_gets_403_naming_it_until_a_new_handle_is_stored()
    {
        var dave = await _pool.SignUpAndSignInAsync("dave");
        await using var ingest = await InProcessWorker.StartAsync(_db.Url, [typeof(UserFunctions)]);
        // Dave's sign-up asks for @bob, whom Bob already is.
        var failed = await ingest.Jobs.EnqueueBatchAsync([new IngestCognitoUserJob(dave.Sub, "dave@example.com", "Dave", "bob")]);
        Assert.Equal("Failed", (await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, failed)).State); // once, for good

        var refused = await PostAsync(Hello, dave.AccessToken);
        // An operator gives him another handle and sends his sign-up again.
        var stored = await ingest.Jobs.EnqueueBatchAsync([new IngestCognitoUserJob(dave.Sub, "dave@example.com", "Dave", "dave")]);
        await HangfireJobs.WaitForFinalStateAsync(_db.DataSource, stored);
        var accepted = await PostAsync(Hello, dave.AccessToken);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.False(refused.Headers.Contains("Retry-After")); // nothing to wait for
        Assert.Contains("the handle @bob belongs to another Cruddur user", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM sign_up_failures"));
    }

    [Fact]
    public async Task The_feed_and_an_activity_answer_without_a_token_and_with_a_bad_one()
    {
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(new Uri("/api/activities/home", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(new Uri("/api/activities/00000000-0000-4000-8000-0000000000a1", UriKind.Relative))).StatusCode);
        using var bad = new HttpRequestMessage(HttpMethod.Get, "/api/activities/home");
        bad.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-jwt");
        Assert.Equal(HttpStatusCode.OK, (await _http.SendAsync(bad)).StatusCode);
    }

    [Fact]
    public async Task The_Idempotency_Key_of_one_user_does_not_replay_for_another()
    {
        var alice = await PostAsync(Hello, _alice.AccessToken, "shared-key");
        var bob = await PostAsync(Hello, _bob.AccessToken, "shared-key");
        var aliceAgain = await PostAsync(Hello, _alice.AccessToken, "shared-key");

        Assert.Equal(HttpStatusCode.Accepted, bob.StatusCode);
        Assert.False(bob.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual(alice.Headers.Location, bob.Headers.Location);
        Assert.Equal("bob", JsonDocument.Parse(await bob.Content.ReadAsStringAsync()).RootElement.GetProperty("handle").GetString());
        Assert.Equal("true", aliceAgain.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(alice.Headers.Location, aliceAgain.Headers.Location);
    }

    [Fact]
    public async Task Without_a_pool_an_Api_outside_Development_refuses_to_start_naming_COGNITO_USER_POOL_ID()
    {
        // As an operator starts it: its own process, the Production environment (no ASPNETCORE_ENVIRONMENT).
        await using var api = ServiceProcess.Start(Repository.ApiDll,
            new Dictionary<string, string?> { ["CONNECTION_URL"] = _db.Url }, "--urls", $"http://127.0.0.1:{PortAllocator.Free()}");

        var exitCode = await api.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(exitCode != 0, api.Output);
        Assert.Contains($"{CognitoAuthenticationOptions.UserPoolIdKey} is not set", api.Output, StringComparison.Ordinal);
        Assert.Contains($"{CognitoAuthenticationOptions.AllowAnonymousPostsKey}=true", api.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_ALLOW_ANONYMOUS_POSTS_an_Api_without_a_pool_starts_says_so_and_takes_a_post_by_handle()
    {
        var port = PortAllocator.Free();
        await using var api = await ServiceProcess.StartApiAsync(_db.Url, port, new Dictionary<string, string?>
        {
            [CognitoAuthenticationOptions.AllowAnonymousPostsKey] = "true",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var response = await PostAsync(http, """{"user_handle":"bob","message":"Anyone may","ttl":"1-day"}""", accessToken: null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Contains("Anonymous posting is on (ALLOW_ANONYMOUS_POSTS=true)", api.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "maybe", CognitoAuthenticationOptions.AllowAnonymousPostsKey)]
    [InlineData("pool", "true", CognitoAuthenticationOptions.AllowAnonymousPostsKey)]
    [InlineData("pool", null, CognitoAuthenticationOptions.ClientIdsKey)]
    public async Task Settings_that_cannot_work_together_stop_the_Api_naming_the_setting(string? pool, string? allowAnonymous, string named)
    {
        await using var api = new ApiFactory(_db.Url, new Dictionary<string, string?>(moto.Environment)
        {
            [CognitoAuthenticationOptions.UserPoolIdKey] = pool is null ? null : _pool.PoolId,
            [CognitoAuthenticationOptions.AllowAnonymousPostsKey] = allowAnonymous,
        });

        var error = Assert.Throws<InvalidOperationException>(() => api.Server);

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task In_Development_an_Api_without_a_pool_posts_anonymously_with_a_warning()
    {
        // WebApplicationFactory runs the Api in Development; neither setting is given.
        await using var api = new ApiFactory(_db.Url, new Dictionary<string, string?> { [CognitoAuthenticationOptions.AllowAnonymousPostsKey] = null });
        _ = api.Server;

        Assert.Contains(api.Logs.Lines, l => l.Level == Microsoft.Extensions.Logging.LogLevel.Warning
            && l.Message.Contains("Anonymous posting is on (the Development environment)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_key_the_pool_publishes_after_startup_is_fetched_when_a_token_names_it_and_an_unknown_key_is_refused()
    {
        // moto signs with one fixed key, so a pool whose keys rotate is played by a local JWKS server and our own tokens.
        using var first = RSA.Create(2048);
        using var rotated = RSA.Create(2048);
        using var forged = RSA.Create(2048);
        await using var keys = IpEchoServer.Start(Jwks((first, "first")));
        const string pool = "us-east-1_Rotating";
        await using var api = new ApiFactory(_db.Url, new Dictionary<string, string?>(moto.Environment)
        {
            ["AWS_ENDPOINT_URL"] = keys.Url,
            [CognitoAuthenticationOptions.UserPoolIdKey] = pool,
            [CognitoAuthenticationOptions.ClientIdsKey] = "rotating-client",
        });
        using var http = api.CreateClient();

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, Hello, Token(first, "first", pool))).StatusCode);
        keys.Answer = Jwks((first, "first"), (rotated, "rotated"));
        await Eventually.ReachesAsync(async () => (await PostAsync(http, Hello, Token(rotated, "rotated", pool))).StatusCode,
            status => status == HttpStatusCode.Accepted, "a token signed with the rotated key to be accepted");
        var fetches = keys.Requests;

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(http, Hello, Token(forged, "forged", pool))).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(http, Hello, Token(forged, "first", pool))).StatusCode);
        }
        // An unknown kid may make the Api fetch the keys again at most once a minute, not once per request.
        Assert.InRange(keys.Requests, fetches, fetches + 1);
    }

    /// <summary>A JWKS document serving the public halves of <paramref name="keys"/>, as a Cognito pool serves its keys.</summary>
    internal static string Jwks(params (RSA Key, string Id)[] keys) => new JsonObject
    {
        ["keys"] = new JsonArray([.. keys.Select(k =>
        {
            var p = k.Key.ExportParameters(includePrivateParameters: false);
            return (JsonNode)new JsonObject
            {
                ["kty"] = "RSA",
                ["alg"] = "RS256",
                ["use"] = "sig",
                ["kid"] = k.Id,
                ["n"] = Base64UrlEncoder.Encode(p.Modulus),
                ["e"] = Base64UrlEncoder.Encode(p.Exponent),
            };
        })]),
    }.ToJsonString();

    /// <summary>An access token as Cognito writes one, for alice, signed with <paramref name="key"/> under <paramref name="kid"/>.</summary>
    private string Token(RSA key, string kid, string pool) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = $"https://cognito-idp.{MotoServer.Region}.amazonaws.com/{pool}",
        Expires = DateTime.UtcNow.AddHours(1),
        Claims = new Dictionary<string, object> { ["sub"] = _alice.Sub, ["token_use"] = "access", ["client_id"] = "rotating-client" },
        SigningCredentials = new SigningCredentials(new RsaSecurityKey(key) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
    });

    private Task<HttpResponseMessage> PostAsync(string body, string? accessToken, string? idempotencyKey = null) =>
        PostAsync(_http, body, accessToken, idempotencyKey);

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string body, string? accessToken, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/activities") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (accessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        }
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return await http.SendAsync(request);
    }

    private Task<string> WaitForAuthorSubAsync(Guid activity) => Eventually.ReachesAsync(
        () => _db.ScalarAsync<string>(
            $"SELECT coalesce((SELECT users.cognito_user_id FROM activities JOIN users ON users.uuid = activities.user_uuid WHERE activities.uuid = '{activity}'), '')"),
        sub => sub.Length > 0,
        $"activity {activity} stored");

    private async Task<string> AnotherPoolsTokenAsync()
    {
        // moto signs every pool's tokens with one key, so only the issuer tells them apart: the check that matters.
        using var other = await MotoCognito.CreateAsync(moto);
        return (await other.SignUpAndSignInAsync("alice")).AccessToken;
    }

    /// <summary>The token with one byte of its signature changed (a character in the middle, so every bit counts).</summary>
    private static string ChangeOneByte(string token)
    {
        var chars = token.ToCharArray();
        var i = token.LastIndexOf('.') + ((token.Length - token.LastIndexOf('.')) / 2);
        chars[i] = chars[i] == 'A' ? 'B' : 'A';
        return new string(chars);
    }
}
