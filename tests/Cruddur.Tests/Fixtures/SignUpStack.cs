using Amazon.SQS;
using Cruddur.Api.Users;
using Cruddur.Tests.Users;
using Cruddur.Worker.Users;
using Microsoft.Extensions.DependencyInjection;

namespace Cruddur.Tests.Fixtures;

/// <summary>
/// The sign-up path as Cognito's events meet it: a seeded database, a users queue in moto_server, the Api's
/// ingress polling it and the Worker's ingest-cognito-user running.
/// </summary>
public sealed class SignUpStack : IAsyncDisposable
{
    private SignUpStack(SqsQueues sqs, string queue, TestDatabase db, InProcessWorker worker, ApiFactory api)
    {
        Sqs = sqs;
        Queue = queue;
        Db = db;
        Worker = worker;
        Api = api;
    }

    public SqsQueues Sqs { get; }

    /// <summary>The users queue the Api polls.</summary>
    public string Queue { get; }

    public TestDatabase Db { get; }

    public InProcessWorker Worker { get; }

    public ApiFactory Api { get; }

    public static async Task<SignUpStack> StartAsync(PostgresServer server, MotoServer moto, string queueName)
    {
        var sqs = new SqsQueues(moto);
        var queue = await sqs.CreateAsync(queueName);
        var db = await TestDatabase.CreateAsync(server, seed: true);
        var worker = await InProcessWorker.StartAsync(db.Url, [typeof(UserFunctions)]);
        var api = new ApiFactory(
            db.Url,
            new Dictionary<string, string?>(moto.Environment)
            {
                [CognitoUsersIngressOptions.QueueUrlKey] = queue,
                [CognitoUsersIngressOptions.WaitSecondsKey] = "1",
            },
            services => services.AddSingleton<IAmazonSQS>(sqs.Client)); // moto's credentials
        _ = api.Server; // starts the Api, and with it the ingress
        return new SignUpStack(sqs, queue, db, worker, api);
    }

    public async ValueTask DisposeAsync()
    {
        await Api.DisposeAsync();
        await Worker.DisposeAsync();
        await Db.DisposeAsync();
        Sqs.Dispose();
    }
}
