using System.Text.Json;
using Cruddur.Api.Activities;
using Cruddur.Api.Authentication;
using Cruddur.Shared.Data;
using Npgsql;

// What a .NET user would write instead of a queue: the same POST /api/activities contract as the Api (its
// validation and 422s from Cruddur.Api, 400 for a body that is not JSON), each post INSERTed directly with
// Npgsql, 201 once committed. bin/bench measures it beside the Api, on the same database and connection settings.
// Signed in as the Api is (COGNITO_USER_POOL_ID, COGNITO_CLIENT_IDS: the Api's own token validation and its cache of
// validated tokens), the token's sub decides who posts; otherwise (ALLOW_ANONYMOUS_POSTS=true) the body's user_handle.
var builder = WebApplication.CreateBuilder(args);
// Its pool keeps the connections its warm-up opened (64 in bin/bench) for the run: pruned a minute later, 60 backends
// exiting at once stalled the Api's alternating slice beside it (p99 37.7-116.8 ms); warmed at 4 instead, a stall made
// it open connections past the server's max_connections (docs/lab/signed-in.md, "The baseline's pruned connections").
builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(
    DataServiceCollectionExtensions.ConnectionStringFrom(builder.Configuration)) { ConnectionIdleLifetime = 3600 }.ConnectionString));
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
builder.Services.AddCognitoAuthentication(builder.Configuration, builder.Environment);
var app = builder.Build();
app.UseCognitoAuthentication();

// The author's row and the insert in one statement: no row back means no user has the handle (or the token's sub).
const string InsertAs = """
    WITH author AS (SELECT uuid, handle, display_name FROM public.users WHERE {0} = $1)
    INSERT INTO public.activities (user_uuid, message, expires_at, created_at)
    SELECT author.uuid, $2, now() + $3, now() FROM author
    RETURNING uuid, created_at, expires_at, (SELECT display_name FROM author), (SELECT handle FROM author)
    """;
var insertByHandle = string.Format(System.Globalization.CultureInfo.InvariantCulture, InsertAs, "handle");
var insertBySub = string.Format(System.Globalization.CultureInfo.InvariantCulture, InsertAs, "cognito_user_id");

var post = app.MapPost("/api/activities", async (HttpContext http, NpgsqlDataSource db, CancellationToken cancellationToken) =>
{
    var request = http.Request;
    if (!request.HasJsonContentType())
    {
        return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Unsupported content type");
    }
    PostActivityRequest? post;
    try
    {
        post = await request.ReadFromJsonAsync<PostActivityRequest>(cancellationToken);
    }
    catch (JsonException)
    {
        post = null;
    }
    if (post is null)
    {
        return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON");
    }

    var sub = SignedInUser.CognitoUserId(http);
    // Signed in, the handle is the token's user's: validated as the Api does once it has found the user.
    var errors = ActivityValidation.Validate(sub is null ? post : post with { UserHandle = "signed-in" });
    if (errors.Count > 0)
    {
        return Results.UnprocessableEntity(new { errors, data = new { handle = post.UserHandle, message = post.Message } });
    }
    await using var command = db.CreateCommand(sub is null ? insertByHandle : insertBySub);
    command.Parameters.Add(new NpgsqlParameter { Value = sub ?? post.UserHandle });
    command.Parameters.Add(new NpgsqlParameter { Value = post.Message });
    command.Parameters.Add(new NpgsqlParameter { Value = ActivityValidation.Ttls[post.Ttl!] });
    await using var row = await command.ExecuteReaderAsync(cancellationToken);
    if (!await row.ReadAsync(cancellationToken))
    {
        return Results.UnprocessableEntity(new { errors = (List<string>)["user_handle_unknown"], data = new { handle = post.UserHandle, message = post.Message } });
    }
    var uuid = row.GetGuid(0);
    return Results.Created($"/api/activities/{uuid}", new
    {
        uuid,
        handle = row.GetString(4),
        display_name = row.GetString(3),
        message = post.Message,
        created_at = row.GetFieldValue<DateTimeOffset>(1),
        expires_at = row.GetFieldValue<DateTimeOffset>(2),
    });
});
if (app.Services.GetRequiredService<CognitoAuthenticationOptions>().Enabled)
{
    post.RequireAuthorization();
}
app.MapGet("/healthz", () => "ok");
app.Run();
