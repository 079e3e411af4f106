-- The purge-expired-activities timer deletes expired activities a batch at a time, oldest expiry first: this
-- index finds each batch without scanning the table. Rows that never expire (NULL) are left out of it.
-- A plain CREATE INDEX (DbUp runs each script in a transaction) blocks writes while it builds: about a second
-- per million activities on a small machine.
CREATE INDEX activities_expires_at_idx ON public.activities (expires_at) WHERE expires_at IS NOT NULL;
