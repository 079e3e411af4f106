-- The runtime roles' rights: run by the migrator after every migration (not journaled; it is idempotent), and by
-- bin/db-roles. bin/db-roles makes the group role cruddur_runtime and the Api's and the Worker's login roles its
-- members. They read and write the rows of public and hangfire, and nothing else: no CREATE, ALTER, DROP or TRUNCATE
-- (those belong to the tables' owner, the migration role), no other schema. The journal is the migrator's: they may
-- only read it (a Worker's startup checks that nothing is pending). Without the role (one URL for everything, a
-- developer's machine), or when run by a role that cannot create in public (a runtime role), this does nothing.
DO $$
BEGIN
  IF to_regrole('cruddur_runtime') IS NULL OR NOT has_schema_privilege('public', 'CREATE') THEN
    RETURN;
  END IF;
  GRANT USAGE ON SCHEMA public TO cruddur_runtime;
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cruddur_runtime;
  GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO cruddur_runtime;
  IF to_regnamespace('hangfire') IS NOT NULL THEN -- not yet on a database bin/db-roles prepares before its first migration
    GRANT USAGE ON SCHEMA hangfire TO cruddur_runtime;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA hangfire TO cruddur_runtime;
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA hangfire TO cruddur_runtime;
  END IF;
  IF to_regclass('public.schema_migrations') IS NOT NULL THEN
    REVOKE INSERT, UPDATE, DELETE ON public.schema_migrations FROM cruddur_runtime;
  END IF;
END
$$;
