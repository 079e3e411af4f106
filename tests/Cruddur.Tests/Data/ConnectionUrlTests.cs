using Cruddur.Shared.Data;
using Npgsql;

namespace Cruddur.Tests.Data;

public class ConnectionUrlTests
{
    [Fact]
    public void The_seeds_url_gives_host_port_user_password_and_database()
    {
        var b = ConnectionUrl.Parse("postgresql://postgres:password@localhost:5432/cruddur");

        Assert.Equal(("localhost", 5432, "postgres", "password", "cruddur"), (b.Host, b.Port, b.Username, b.Password, b.Database));
    }

    [Fact]
    public void A_url_without_a_port_uses_5432()
    {
        Assert.Equal(5432, ConnectionUrl.Parse("postgresql://cruddurroot:pw@db.example.com/cruddur").Port);
    }

    [Fact]
    public void A_percent_encoded_password_with_at_and_colon_is_decoded()
    {
        var b = ConnectionUrl.Parse("postgres://us%40er:p%40ss%3Aw%2Frd@127.0.0.1:6543/cruddur");

        Assert.Equal(("us@er", "p@ss:w/rd", 6543), (b.Username, b.Password, b.Port));
    }

    [Theory]
    [InlineData("disable", SslMode.Disable)]
    [InlineData("require", SslMode.Require)]
    [InlineData("verify-full", SslMode.VerifyFull)]
    public void Sslmode_in_the_query_is_honoured(string given, SslMode expected)
    {
        Assert.Equal(expected, ConnectionUrl.Parse($"postgresql://u:p@db.example.com:5432/cruddur?sslmode={given}").SslMode);
    }

    [Fact]
    public void A_remote_host_without_sslmode_requires_tls_and_a_local_one_does_not()
    {
        Assert.Equal(SslMode.Require, ConnectionUrl.Parse("postgresql://u:p@cruddur-db.abc.us-east-1.rds.amazonaws.com:5432/cruddur").SslMode);
        Assert.NotEqual(SslMode.Require, ConnectionUrl.Parse("postgresql://u:p@127.0.0.1:5432/cruddur").SslMode);
        Assert.NotEqual(SslMode.Require, ConnectionUrl.Parse("postgresql://u:p@localhost/cruddur").SslMode);
    }

    [Fact]
    public void An_ipv6_loopback_host_is_accepted()
    {
        Assert.Equal("::1", ConnectionUrl.Parse("postgresql://u:p@[::1]:5433/cruddur").Host);
    }

    [Theory]
    [InlineData("mysql://root:hunter2secret@localhost/cruddur", "is not a postgresql://")]
    [InlineData("postgresql://root:hunter2secret@localhost/cruddur?sslmode=sometimes", "sslmode 'sometimes'")]
    [InlineData("postgresql://root:hunter2secret@localhost/cruddur?pool=9", "'pool'")]
    [InlineData("postgresql://root@localhost/cruddur?sslmode=require&password=hunter2secret", "password in the query")]
    [InlineData("Host=localhost;Password=hunter2secret", "is not a postgresql://")]
    [InlineData("root:hunter2secret@localhost", "is not a postgresql://")]
    [InlineData("postgresql://root:hunter2secret?x@localhost/cruddur", "is not a postgresql://")] // an unencoded '?'
    public void A_bad_url_is_a_clear_error_that_never_shows_the_password(string url, string explanation)
    {
        var error = Assert.Throws<FormatException>(() => ConnectionUrl.Parse(url));

        Assert.Contains(explanation, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2secret", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgresql://root:hunter2secret@localhost:5432/cruddur", "postgresql://root:***@localhost:5432/cruddur")]
    [InlineData("postgresql://root:hun@ter2/secret@localhost/cruddur?sslmode=require", "postgresql://root:***@localhost/cruddur?sslmode=require")]
    [InlineData("postgresql://root:hun?ter2secret@localhost/cruddur", "postgresql://root:***@localhost/cruddur")]
    [InlineData("postgresql://root@localhost:5432/cruddur?application_name=a@b", "postgresql://root@localhost:5432/cruddur?application_name=a@b")]
    [InlineData("postgresql://localhost:5432/cruddur", "postgresql://localhost:5432/cruddur")]
    [InlineData("postgresql://root@localhost/cruddur?password=hunter2secret&sslmode=require", "postgresql://root@localhost/cruddur?password=***&sslmode=require")]
    public void Redact_hides_only_the_password(string url, string expected)
    {
        Assert.Equal(expected, ConnectionUrl.Redact(url));
    }
}
