using Cruddur.Shared.Configuration;
using Cruddur.Api;

var builder = WebApplication.CreateBuilder([.. args, Settings.ReadOnceArgument]);
builder.AddCruddurApi();

var app = builder.Build();
app.MapCruddurApi();
app.Run();
