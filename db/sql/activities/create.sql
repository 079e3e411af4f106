-- Stores one activity whose uuid and times the Api chose, so a retried job inserts once: a second run
-- returns no row. An unknown handle leaves user_uuid NULL and fails with SQLSTATE 23502 (not_null_violation).
INSERT INTO public.activities (
  uuid,
  user_uuid,
  message,
  expires_at,
  created_at
)
VALUES (
  @uuid,
  (SELECT uuid
    FROM public.users
    WHERE users.handle = @handle
  ),
  @message,
  @expires_at,
  COALESCE(@created_at::timestamptz, current_timestamp)
)
ON CONFLICT (uuid) DO NOTHING
RETURNING uuid;
