using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Cruddur.Api.Activities;

/// <summary>
/// Where the next page of the home feed starts: the last row's (created_at, uuid), the feed index's key.
/// Opaque to clients (base64url), so its format can change.
/// </summary>
public sealed record FeedCursor(DateTimeOffset CreatedAt, Guid Uuid)
{
    public override string ToString() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{CreatedAt.UtcDateTime.Ticks.ToString(CultureInfo.InvariantCulture)}.{Uuid:N}"));

    public static bool TryParse(string? text, [NotNullWhen(true)] out FeedCursor? cursor)
    {
        cursor = null;
        if (string.IsNullOrEmpty(text) || text.Length > 100)
        {
            return false;
        }
        try
        {
            var parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(text)).Split('.');
            if (parts.Length == 2
                && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                && ticks is >= 0 and <= 3155378975999999999 // DateTime.MaxValue.Ticks
                && Guid.TryParseExact(parts[1], "N", out var uuid))
            {
                cursor = new FeedCursor(new DateTimeOffset(ticks, TimeSpan.Zero), uuid);
                return true;
            }
        }
        catch (FormatException)
        {
        }
        return false;
    }
}
