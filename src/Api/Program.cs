using Cruddur.Api;

var builder = WebApplication.CreateBuilder(args);
builder.AddCruddurApi();

var app = builder.Build();
app.MapCruddurApi();
app.Run();
