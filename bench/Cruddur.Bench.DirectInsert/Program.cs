using System.Text.Json;
using Cruddur.Api.Activities;
using Cruddur.Shared.Data;
using Npgsql;

// What a .NET user would write instead of a queue: the same POST /api/activities contract as the Api (its
// validation and 422s from Cruddur.Api, 400 for a body that is not JSON), each post INSERTed directly with
// Npgsql, 201 once committed. bin/bench measures it beside the Api, on the same database and connection settings.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(DataServiceCollectionExtensions.ConnectionStringFrom(builder.Configuration)));
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
var app = builder.Build();

// The author's row and the insert in one statement: no row back means no user has the handle.
const string Insert = """
    WITH author AS (SELECT uuid, display_name FROM public.users WHERE handle = $1)
    INSERT INTO public.activities (user_uuid, message, expires_at, created_at)
    SELECT author.uuid, $2, now() + $3, now() FROM author
    RETURNING uuid, created_at, expires_at, (SELECT display_name FROM author)
    """;

app.MapPost("/api/activities", async (HttpRequest request, NpgsqlDataSource db, CancellationToken cancellationToken) =>
{
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

    var errors = ActivityValidation.Validate(post);
    if (errors.Count > 0)
    {
        return Results.UnprocessableEntity(new { errors, data = new { handle = post.UserHandle, message = post.Message } });
    }
    await using var command = db.CreateCommand(Insert);
    command.Parameters.Add(new NpgsqlParameter { Value = post.UserHandle });
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
        handle = post.UserHandle,
        display_name = row.GetString(3),
        message = post.Message,
        created_at = row.GetFieldValue<DateTimeOffset>(1),
        expires_at = row.GetFieldValue<DateTimeOffset>(2),
    });
});
app.MapGet("/healthz", () => "ok");
app.Run();
