-- Deletes one batch of Idempotency-Key records that can no longer matter (at most @batch_size, oldest first) and returns
-- how many, with them the post's text their answer holds. A record answers replays for 24 hours; after that it keeps
-- only its generation, so that the key reused makes a new activity uuid and not the uuid of an activity still stored.
-- Once it is older than the longest ttl (30 days) and a day, every activity its key made has expired, and the purge run
-- before this one (the same timer, only when it finished) has deleted them; the record goes when its own activity is
-- gone too, so a reused key cannot meet an activity with its uuid.
WITH deleted AS (
  DELETE FROM public.idempotency_keys
  WHERE (user_handle, key) IN (
    SELECT forgotten.user_handle, forgotten.key
    FROM public.idempotency_keys AS forgotten
    WHERE forgotten.created_at < current_timestamp - interval '31 days'
      AND NOT EXISTS (
        SELECT 1 FROM public.activities WHERE activities.uuid = (forgotten.body::jsonb ->> 'uuid')::uuid
      )
    ORDER BY forgotten.created_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
  )
  RETURNING 1
)
SELECT count(*) FROM deleted;
