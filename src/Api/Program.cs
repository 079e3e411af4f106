using Cruddur.Api.Users;
using Cruddur.Shared.Data;
using Cruddur.Shared.Jobs;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddCruddurData(builder.Configuration).AddCruddurJobStorage(builder.Configuration);
builder.Services.AddCognitoUsersIngress(builder.Configuration);
var app = builder.Build();
app.MapGet("/healthz", () => "ok");
app.Run();
