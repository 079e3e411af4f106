namespace Cruddur.HangfireOverrides;

/// <summary>The library's SQL for the writes of a state change (<c>PostgreSqlWriteOnlyTransaction</c>), with positional parameters.</summary>
internal sealed class StateWriteSql(string schema)
{
    public string SetJobState { get; } = $"""
        WITH "s" AS (
            INSERT INTO "{schema}"."state" ("jobid", "name", "reason", "createdat", "data")
            VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING "id"
        )
        UPDATE "{schema}"."job" "j" SET "stateid" = "s"."id", "statename" = $2 FROM "s" WHERE "j"."id" = $1
        """;

    public string AddJobState { get; } = $"""
        INSERT INTO "{schema}"."state" ("jobid", "name", "reason", "createdat", "data")
        VALUES ($1, $2, $3, $4, $5::jsonb)
        """;

    public string ExpireJob { get; } = $"""
        UPDATE "{schema}"."job" SET "expireat" = NOW() + $2 * INTERVAL '1 second'
        WHERE "id" = $1
        """;

    public string PersistJob { get; } = $"""
        UPDATE "{schema}"."job" SET "expireat" = NULL
        WHERE "id" = $1
        """;

    public string AddToCounter { get; } = $"""
        INSERT INTO "{schema}"."counter" ("key", "value")
        VALUES ($1, $2)
        """;

    public string AddToExpiringCounter { get; } = $"""
        INSERT INTO "{schema}"."counter" ("key", "value", "expireat")
        VALUES ($1, $2, NOW() + $3 * INTERVAL '1 second')
        """;
}
