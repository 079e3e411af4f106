-- Idempotency-Key records are forgotten once they can no longer matter (db/sql/idempotency/purge_forgotten.sql, run by
-- the purge-expired-activities timer): this index finds the oldest without scanning the table. Until now they were
-- kept for good, and with them the text of every keyed post, past its expiry.
CREATE INDEX idempotency_keys_created_at_idx ON public.idempotency_keys (created_at);
