using Cruddur.Worker.Activities;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// The activities path as a user meets it: a seeded database, the Worker's create-activity running, and the
/// Api in the test server with an HTTP client.
/// </summary>
public sealed class ActivitiesStack : IAsyncDisposable
{
    private ActivitiesStack(TestDatabase db, InProcessWorker worker, ApiFactory api)
    {
        Db = db;
        Worker = worker;
        Api = api;
        Http = api.CreateClient();
    }

    public TestDatabase Db { get; }

    public InProcessWorker Worker { get; }

    public ApiFactory Api { get; }

    public HttpClient Http { get; }

    public static async Task<ActivitiesStack> StartAsync(PostgresServer server)
    {
        var db = await TestDatabase.CreateAsync(server, seed: true);
        var worker = await InProcessWorker.StartAsync(db.Url, [typeof(ActivityFunctions)]);
        return new ActivitiesStack(db, worker, new ApiFactory(db.Url));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Api.DisposeAsync();
        await Worker.DisposeAsync();
        await Db.DisposeAsync();
    }
}
