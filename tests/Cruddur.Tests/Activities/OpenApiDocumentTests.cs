using System.Text.Json;
using Cruddur.Api.Authentication;
using Cruddur.Tests.Fixtures;

namespace Cruddur.Tests.Activities;

/// <summary>/openapi/v1.json describes each endpoint's request and every status it answers.</summary>
public sealed class OpenApiDocumentTests(PostgresServer server)
{
    [Fact]
    public async Task The_document_lists_every_endpoint_with_its_request_body_and_statuses()
    {
        await using var db = await TestDatabase.CreateAsync(server);
        await using var api = new ApiFactory(db.Url, new Dictionary<string, string?>
        {
            [CognitoAuthenticationOptions.UserPoolIdKey] = "us-east-1_OpenApi",
            [CognitoAuthenticationOptions.ClientIdsKey] = "openapi-client",
        });
        using var http = api.CreateClient();

        var paths = JsonDocument.Parse(await http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative))).RootElement.GetProperty("paths");

        Assert.Equal(["202", "400", "401", "403", "409", "413", "422", "429", "503"], Statuses(paths, "/api/activities", "post"));
        var body = paths.GetProperty("/api/activities").GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("application/json");
        Assert.True(body.TryGetProperty("schema", out _), "the POST's request body has a schema");
        // 422: the validation errors in the seed's shape, or problem details for a reused Idempotency-Key.
        var rejected = paths.GetProperty("/api/activities").GetProperty("post").GetProperty("responses").GetProperty("422").GetProperty("content");
        Assert.Equal(["application/json", "application/problem+json"], [.. rejected.EnumerateObject().Select(c => c.Name).Order(StringComparer.Ordinal)]);
        Assert.Equal(["200", "400", "503"], Statuses(paths, "/api/activities/home", "get"));
        Assert.Equal(["200", "404", "503"], Statuses(paths, "/api/activities/{uuid}", "get"));
        Assert.Equal(["200", "404", "503"], Statuses(paths, "/api/jobs/{jobId}", "get"));
    }

    private static string[] Statuses(JsonElement paths, string path, string method) =>
        [.. paths.GetProperty(path).GetProperty(method).GetProperty("responses").EnumerateObject().Select(r => r.Name).Order(StringComparer.Ordinal)];
}
