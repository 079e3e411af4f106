using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Cruddur.Tests.Fixtures;

/// <summary>A user in a <see cref="MotoCognito"/> pool and the tokens the frontend would hold after signing in.</summary>
public sealed record CognitoTestUser(string Username, string Sub, string AccessToken, string IdToken);

/// <summary>
/// A Cognito user pool in the shared moto_server with an app client, as the Cruddur frontend signs in to it:
/// admin-create-user, admin-set-user-password --permanent, admin-initiate-auth with ADMIN_USER_PASSWORD_AUTH.
/// The AWS SDK's Cognito client is not in this machine's package mirror, so this speaks the service's JSON
/// protocol itself (the aws CLI does the same); moto answers it as it answers the SDK.
/// </summary>
public sealed class MotoCognito : IDisposable
{
    private const string Password = "Cruddur-Test-1!";

    private readonly HttpClient _http;

    private MotoCognito(HttpClient http, string poolId, string clientId)
    {
        _http = http;
        PoolId = poolId;
        AppClientId = clientId;
    }

    public string PoolId { get; }

    /// <summary>An app client that allows ADMIN_USER_PASSWORD_AUTH.</summary>
    public string AppClientId { get; }

    public static async Task<MotoCognito> CreateAsync(MotoServer moto)
    {
        var http = new HttpClient { BaseAddress = new Uri(moto.EndpointUrl + "/") };
        var pool = await CallAsync(http, "CreateUserPool", new JsonObject { ["PoolName"] = $"cruddur-{Guid.NewGuid():N}" });
        var poolId = pool["UserPool"]!["Id"]!.GetValue<string>();
        return new MotoCognito(http, poolId, await CreateClientAsync(http, poolId));
    }

    /// <summary>Another app client of the pool.</summary>
    public Task<string> CreateClientAsync() => CreateClientAsync(_http, PoolId);

    /// <summary>A confirmed user with a permanent password, signed in through <paramref name="clientId"/> (default <see cref="AppClientId"/>).</summary>
    public async Task<CognitoTestUser> SignUpAndSignInAsync(string username, string? clientId = null)
    {
        await CallAsync(_http, "AdminCreateUser", new JsonObject
        {
            ["UserPoolId"] = PoolId,
            ["Username"] = username,
            ["MessageAction"] = "SUPPRESS",
            ["UserAttributes"] = new JsonArray(
                new JsonObject { ["Name"] = "email", ["Value"] = $"{username}@example.com" },
                new JsonObject { ["Name"] = "preferred_username", ["Value"] = username }),
        });
        await CallAsync(_http, "AdminSetUserPassword", new JsonObject
        {
            ["UserPoolId"] = PoolId,
            ["Username"] = username,
            ["Password"] = Password,
            ["Permanent"] = true,
        });
        var user = await CallAsync(_http, "AdminGetUser", new JsonObject { ["UserPoolId"] = PoolId, ["Username"] = username });
        var sub = user["UserAttributes"]!.AsArray().Single(a => a!["Name"]!.GetValue<string>() == "sub")!["Value"]!.GetValue<string>();
        var (access, id) = await SignInAsync(username, clientId ?? AppClientId);
        return new CognitoTestUser(username, sub, access, id);
    }

    /// <summary>A fresh access and ID token for the user, through <paramref name="clientId"/>.</summary>
    public async Task<(string AccessToken, string IdToken)> SignInAsync(string username, string clientId)
    {
        var auth = await CallAsync(_http, "AdminInitiateAuth", new JsonObject
        {
            ["UserPoolId"] = PoolId,
            ["ClientId"] = clientId,
            ["AuthFlow"] = "ADMIN_USER_PASSWORD_AUTH",
            ["AuthParameters"] = new JsonObject { ["USERNAME"] = username, ["PASSWORD"] = Password },
        });
        var result = auth["AuthenticationResult"]!;
        return (result["AccessToken"]!.GetValue<string>(), result["IdToken"]!.GetValue<string>());
    }

    public void Dispose() => _http.Dispose();

    private static async Task<string> CreateClientAsync(HttpClient http, string poolId)
    {
        var client = await CallAsync(http, "CreateUserPoolClient", new JsonObject
        {
            ["UserPoolId"] = poolId,
            ["ClientName"] = $"cruddur-frontend-{Guid.NewGuid():N}",
            ["ExplicitAuthFlows"] = new JsonArray("ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"),
        });
        return client["UserPoolClient"]!["ClientId"]!.GetValue<string>();
    }

    private static async Task<JsonNode> CallAsync(HttpClient http, string action, JsonObject request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "")
        {
            Content = new StringContent(request.ToJsonString(), Encoding.UTF8),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        message.Headers.Add("X-Amz-Target", $"AWSCognitoIdentityProviderService.{action}");
        // The credential scope tells an emulator the service and region; moto does not check the signature.
        message.Headers.TryAddWithoutValidation("Authorization",
            $"AWS4-HMAC-SHA256 Credential=testing/20260101/{MotoServer.Region}/cognito-idp/aws4_request, SignedHeaders=host, Signature=0");
        using var response = await http.SendAsync(message);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Cognito {action} answered {(int)response.StatusCode}: {body}");
        }
        return JsonNode.Parse(body) ?? new JsonObject();
    }
}
