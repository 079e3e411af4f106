using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Cruddur.Api.Authentication;

/// <summary>
/// Reads a user pool's JSON Web Key Set as the configuration the JWT handler validates against. Cognito and
/// moto_server serve the keys, but moto_server not the OpenID configuration document, so the keys are the whole
/// configuration here. Used through a <see cref="ConfigurationManager{T}"/>, which caches them (12 h) and fetches
/// them again when a token's <c>kid</c> is unknown (at most once per <see cref="RefreshInterval"/>).
/// </summary>
public sealed class CognitoSigningKeys(string issuer) : IConfigurationRetriever<OpenIdConnectConfiguration>
{
    /// <summary>How often a token with an unknown key may make the Api fetch the keys again.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(1);

    public static ConfigurationManager<OpenIdConnectConfiguration> Manager(CognitoAuthenticationOptions options, HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ConfigurationManager<OpenIdConnectConfiguration>(
            options.JwksUrl,
            new CognitoSigningKeys(options.Issuer),
            new HttpDocumentRetriever(http) { RequireHttps = options.EndpointUrl is null }) // an emulator speaks http
        {
            RefreshInterval = RefreshInterval,
        };
    }

    public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(retriever);
        var keys = new JsonWebKeySet(await retriever.GetDocumentAsync(address, cancel));
        var configuration = new OpenIdConnectConfiguration { Issuer = issuer, JwksUri = address, JsonWebKeySet = keys };
        foreach (var key in keys.GetSigningKeys())
        {
            configuration.SigningKeys.Add(key);
        }
        return configuration;
    }
}
