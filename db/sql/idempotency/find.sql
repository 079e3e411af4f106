-- The answer recorded for a user's Idempotency-Key, and whether its 24 hours have passed.
SELECT
  idempotency_keys.generation,
  idempotency_keys.fingerprint,
  idempotency_keys.status,
  idempotency_keys.location,
  idempotency_keys.body,
  idempotency_keys.created_at < current_timestamp - interval '24 hours' AS expired
FROM public.idempotency_keys
WHERE
  idempotency_keys.user_handle = @user_handle
  AND idempotency_keys.key = @key
