-- Records the first answer to a key (or replaces one whose 24 hours have passed). Returns the generation
-- when this answer was recorded, no row when another request recorded its answer first.
INSERT INTO public.idempotency_keys (user_handle, key, generation, fingerprint, status, location, body)
VALUES (@user_handle, @key, @generation, @fingerprint, @status, @location, @body)
ON CONFLICT (user_handle, key) DO UPDATE
  SET generation = EXCLUDED.generation,
      fingerprint = EXCLUDED.fingerprint,
      status = EXCLUDED.status,
      location = EXCLUDED.location,
      body = EXCLUDED.body,
      created_at = current_timestamp
  WHERE idempotency_keys.created_at < current_timestamp - interval '24 hours'
RETURNING generation;
