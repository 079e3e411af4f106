using System.Globalization;
using System.Text;

namespace Cruddur.Worker.SecurityGroups;

/// <summary>Accepts only a dotted-quad IPv4 address (an echo service's plain-text answer, surrounding whitespace allowed).</summary>
internal static class PublicIpv4
{
    /// <summary>True when <paramref name="answer"/> is exactly four decimal octets; otherwise <paramref name="reason"/> says why not.</summary>
    public static bool TryParse(string? answer, out string address, out string reason)
    {
        address = "";
        var text = (answer ?? "").Trim();
        if (text.Length == 0)
        {
            reason = "the answer is empty";
            return false;
        }
        if (text.Contains(':', StringComparison.Ordinal))
        {
            reason = $"the answer '{Shown(text)}' looks like an IPv6 address; the rule takes IPv4 only";
            return false;
        }
        var octets = text.Split('.');
        // IPAddress.TryParse would take "1", "1.2" or "0x7f.1" too; a rule must name exactly the address we see.
        if (octets.Length != 4 || !octets.All(IsOctet))
        {
            reason = $"the answer '{Shown(text)}' is not a dotted IPv4 address";
            return false;
        }
        address = text;
        reason = "";
        return true;
    }

    private static bool IsOctet(string part) =>
        part.Length is >= 1 and <= 3
        && part.All(char.IsAsciiDigit)
        && (part.Length == 1 || part[0] != '0') // "010" reads as octal to some parsers
        && int.Parse(part, CultureInfo.InvariantCulture) <= 255;

    /// <summary>The answer as it may appear in a log line: short, printable.</summary>
    private static string Shown(string text)
    {
        var shown = new StringBuilder();
        foreach (var c in text.Take(40))
        {
            shown.Append(char.IsControl(c) ? '?' : c);
        }
        return text.Length > 40 ? shown + "..." : shown.ToString();
    }
}
