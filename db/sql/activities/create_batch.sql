-- Stores a batch of activities in one statement, each with the uuid, author and times the Api chose, so a retried
-- job inserts each row once. The parameters are parallel arrays, one element per activity; user_uuids holds the
-- author's users.uuid, which the Api resolved when it accepted the post.
-- Returns a row per activity inserted now ('stored'), and one per activity that cannot be stored because its
-- author is no longer in users (or was never found) and it is not stored already ('unknown_user'). Activities
-- stored by an earlier run return nothing.
WITH batch AS (
  SELECT batch.*, EXISTS (SELECT 1 FROM public.users WHERE users.uuid = batch.user_uuid) AS user_exists
  FROM unnest(
    @uuids::uuid[],
    @user_uuids::uuid[],
    @messages::text[],
    @expires_at::timestamptz[],
    @created_at::timestamptz[]
  ) AS batch (uuid, user_uuid, message, expires_at, created_at)
),
inserted AS (
  INSERT INTO public.activities (
    uuid,
    user_uuid,
    message,
    expires_at,
    created_at
  )
  SELECT
    batch.uuid,
    batch.user_uuid,
    batch.message,
    batch.expires_at,
    COALESCE(batch.created_at, current_timestamp)
  FROM batch
  WHERE batch.user_exists
  ON CONFLICT (uuid) DO NOTHING
  RETURNING activities.uuid
)
SELECT inserted.uuid, 'stored' AS outcome
FROM inserted
UNION ALL
SELECT batch.uuid, 'unknown_user' AS outcome
FROM batch
WHERE NOT batch.user_exists
  AND NOT EXISTS (SELECT 1 FROM public.activities WHERE activities.uuid = batch.uuid);
