using Cruddur.Worker.Hosting;

if (args is ["migrate", .. var options])
{
    return await MigrateCommand.RunAsync(options);
}

await Console.Error.WriteLineAsync("usage: Cruddur.Worker migrate [--schema-only]");
return 2;
