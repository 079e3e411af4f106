-- Deletes one batch of expired activities (at most @batch_size, oldest expiry first, found through
-- activities_expires_at_idx, then deleted through the primary key) and returns how many it deleted. Each batch
-- is its own short transaction, so the purge never holds many locks or one huge transaction; SKIP LOCKED lets
-- two purges run side by side. An activity that never expires (expires_at NULL) is never deleted: the feed
-- hides exactly the rows this deletes.
WITH deleted AS (
  DELETE FROM public.activities
  WHERE uuid = ANY(ARRAY(
    SELECT uuid
    FROM public.activities
    WHERE expires_at <= current_timestamp
    ORDER BY expires_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
  ))
  RETURNING 1
)
SELECT count(*) FROM deleted;
