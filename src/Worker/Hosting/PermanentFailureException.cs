namespace Cruddur.Worker.Hosting;

/// <summary>
/// A failure that a retry cannot fix (a bad payload, a user that no longer exists, a constraint the data
/// breaks): the job fails once, with this message as its visible reason, instead of being retried.
/// Functions throw it for their own such cases; the host classifies the known ones.
/// </summary>
public sealed class PermanentFailureException : Exception
{
    public PermanentFailureException(string message)
        : base(message)
    {
    }

    public PermanentFailureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
