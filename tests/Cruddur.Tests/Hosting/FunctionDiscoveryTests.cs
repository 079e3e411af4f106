using Cruddur.Shared.Activities;
using Cruddur.Shared.Jobs;
using Cruddur.Worker.Hosting;
using Microsoft.Extensions.Configuration;

#pragma warning disable CA1822 // the declarations under test are instance methods on purpose, as functions are

namespace Cruddur.Tests.Hosting;

public class FunctionDiscoveryTests
{
    [Fact]
    public void The_workers_own_functions_are_found_with_their_queues()
    {
        var catalog = FunctionCatalog.Discover(
            FunctionCatalog.TypesIn(typeof(Cruddur.Worker.Extensions).Assembly), Settings(("SG_REFRESH_CRON", "*/5 * * * *"), ("ACTIVITY_PURGE_CRON", "*/10 * * * *")));

        Assert.Equal(
            [("create-activity", "activities"), ("ingest-cognito-user", "users"), ("purge-expired-activities", "maintenance"), ("refresh-rds-sg-rule", "maintenance")],
            catalog.Functions.Select(f => (f.Name, f.Queue)).Order());
        Assert.Equal(["activities", "maintenance", "users"], catalog.Queues);
    }

    [Fact]
    public void A_timer_schedule_is_read_from_the_setting_it_names()
    {
        var catalog = FunctionCatalog.Discover([typeof(SettingTimer)], Settings(("MY_CRON", "*/10 * * * *")));

        Assert.True(catalog.TryGet("setting-timer", out var timer));
        Assert.Equal("*/10 * * * *", timer.Schedule);
        Assert.Equal("maintenance", timer.Queue);
    }

    [Fact]
    public void A_timer_whose_setting_is_empty_is_off_while_an_unset_setting_stays_an_error()
    {
        var catalog = FunctionCatalog.Discover([typeof(SettingTimer)], Settings(("MY_CRON", "")));

        Assert.True(catalog.TryGet("setting-timer", out var timer));
        Assert.Null(timer.Schedule);
        Assert.Throws<FunctionDeclarationException>(() => FunctionCatalog.Discover([typeof(SettingTimer)], Settings()));
    }

    [Theory]
    [InlineData(typeof(DuplicateNames), "DuplicateNames.Second", "already used by Cruddur.Tests.Hosting.FunctionDiscoveryTests+DuplicateNames.First")]
    [InlineData(typeof(NoTrigger), "NoTrigger.RunAsync", "no trigger")]
    [InlineData(typeof(TwoTriggers), "TwoTriggers.RunAsync", "2 triggers")]
    [InlineData(typeof(TwoTriggersOnOneParameter), "TwoTriggersOnOneParameter.RunAsync", "parameter 'job' has more than one trigger attribute")]
    [InlineData(typeof(NotAContract), "NotAContract.RunAsync", "String is not a job contract")]
    [InlineData(typeof(WrongContract), "WrongContract.RunAsync", "CreateActivityJob is the contract of function 'create-activity'")]
    [InlineData(typeof(BadCron), "BadCron.RunAsync", "'every tuesday' is not a valid cron expression")]
    [InlineData(typeof(SettingTimer), "SettingTimer.RunAsync", "names the setting MY_CRON, which is not set")]
    [InlineData(typeof(UnbindableParameter), "UnbindableParameter.RunAsync", "parameter 'services'")]
    [InlineData(typeof(ReturnsVoid), "ReturnsVoid.Run", "must return Task")]
    [InlineData(typeof(BadName), "BadName.RunAsync", "'Create Activity' must be lower-case")]
    public void A_malformed_declaration_stops_startup_with_a_message_naming_the_method(Type type, string method, string message)
    {
        var error = Assert.Throws<FunctionDeclarationException>(() => FunctionCatalog.Discover([type], Settings()));

        var line = Assert.Single(error.Errors, e => e.Contains(message, StringComparison.Ordinal));
        Assert.StartsWith($"Cruddur.Tests.Hosting.FunctionDiscoveryTests+{method}: ", line, StringComparison.Ordinal);
        Assert.Contains(line, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var error = Assert.Throws<FunctionDeclarationException>(() =>
            FunctionCatalog.Discover([typeof(NoTrigger), typeof(BadCron), typeof(ReturnsVoid)], Settings()));

        Assert.Equal(3, error.Errors.Count);
    }

    private static IConfiguration Settings(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();

    [JobContract("echo", "tests")]
    public sealed record EchoJob(string Text);

    public sealed class DuplicateNames
    {
        [Function("echo")]
        public Task First([JobTrigger("tests")] EchoJob job) => Task.CompletedTask;

        [Function("echo")]
        public Task Second([JobTrigger("tests")] EchoJob job) => Task.CompletedTask;
    }

    public sealed class NoTrigger
    {
        [Function("echo")]
        public Task RunAsync(EchoJob job) => Task.CompletedTask;
    }

    public sealed class TwoTriggersOnOneParameter
    {
        [Function("echo")]
        public Task RunAsync([JobTrigger("tests"), TimerTrigger("* * * * *")] EchoJob job) => Task.CompletedTask;
    }

    public sealed class TwoTriggers
    {
        [Function("echo")]
        public Task RunAsync([JobTrigger("tests")] EchoJob job, [TimerTrigger("* * * * *")] TimerInfo timer) => Task.CompletedTask;
    }

    public sealed class NotAContract
    {
        [Function("echo")]
        public Task RunAsync([JobTrigger("tests")] string text) => Task.CompletedTask;
    }

    public sealed class WrongContract
    {
        [Function("echo")]
        public Task RunAsync([JobTrigger("tests")] CreateActivityJob job) => Task.CompletedTask;
    }

    public sealed class BadCron
    {
        [Function("tick")]
        public Task RunAsync([TimerTrigger("every tuesday")] TimerInfo timer) => Task.CompletedTask;
    }

    public sealed class SettingTimer
    {
        [Function("setting-timer")]
        public Task RunAsync([TimerTrigger("%MY_CRON%")] TimerInfo timer) => Task.CompletedTask;
    }

    public sealed class UnbindableParameter
    {
        [Function("echo")]
        public Task RunAsync([JobTrigger("tests")] EchoJob job, IServiceProvider services) => Task.CompletedTask;
    }

    public sealed class ReturnsVoid
    {
        [Function("echo")]
        public void Run([JobTrigger("tests")] EchoJob job)
        {
        }
    }

    public sealed class BadName
    {
        [Function("Create Activity")]
        public Task RunAsync([JobTrigger("tests")] EchoJob job) => Task.CompletedTask;
    }
}
