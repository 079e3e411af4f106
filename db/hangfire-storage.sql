-- How Hangfire's tables store what they hold, beyond what its installer makes: run by the migrator after Hangfire's
-- installer on every start (not journaled: it is idempotent, and reads only the catalog once it has run).
--
-- hangfire.job.arguments holds a create-activity job's posts, about 16 kB for 64, compressed into TOAST. lz4 does that
-- for about 60% of pglz's CPU: an enqueue of a 64-post job took 0.28-0.32 ms against 0.45-0.51 (docs/performance.md,
-- "What a job's statements are, counted"). Rows already written keep pglz until they expire. Needs PostgreSQL 14 or
-- later (the migrator runs this only there) built with lz4 (RDS's is). Run by a role that does not own the table (a
-- runtime role) it does nothing; without lz4, or when the table is too busy to lock within 2 s (the next start tries
-- again), it does nothing and the migrator logs why.
DO $$
DECLARE
  arguments pg_attribute%ROWTYPE;
BEGIN
  IF to_regclass('hangfire.job') IS NULL THEN
    RETURN;
  END IF;
  SELECT * INTO arguments FROM pg_attribute WHERE attrelid = 'hangfire.job'::regclass AND attname = 'arguments';
  IF arguments.attcompression = 'l'
     OR NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = 'hangfire.job'::regclass), 'USAGE') THEN
    RETURN;
  END IF;
  PERFORM set_config('lock_timeout', '2s', true);
  ALTER TABLE hangfire.job ALTER COLUMN arguments SET COMPRESSION lz4;
EXCEPTION
  WHEN feature_not_supported THEN
    RAISE NOTICE 'hangfire.job.arguments stays pglz: this PostgreSQL has no lz4 (%)', SQLERRM;
  WHEN lock_not_available THEN
    RAISE NOTICE 'hangfire.job.arguments stays pglz until the next start: hangfire.job was busy (%)', SQLERRM;
END
$$;
