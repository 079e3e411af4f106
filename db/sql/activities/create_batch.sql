-- Stores a batch of activities in one statement, each with the uuid and times the Api chose, so a retried
-- job inserts each row once. The parameters are parallel arrays, one element per activity.
-- Returns a row per activity inserted now ('stored'), and one per activity that cannot be stored because no
-- user has its handle and it is not stored already ('unknown_handle'). Activities stored by an earlier run
-- return nothing. Each handle is looked up once; only an activity whose handle is unknown is looked for among
-- the stored ones.
WITH batch AS (
  SELECT batch.*, users.uuid AS user_uuid
  FROM unnest(
    @uuids::uuid[],
    @handles::text[],
    @messages::text[],
    @expires_at::timestamptz[],
    @created_at::timestamptz[]
  ) AS batch (uuid, handle, message, expires_at, created_at)
  LEFT JOIN public.users ON users.handle = batch.handle
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
  WHERE batch.user_uuid IS NOT NULL
  ON CONFLICT (uuid) DO NOTHING
  RETURNING activities.uuid
)
SELECT inserted.uuid, 'stored' AS outcome
FROM inserted
UNION ALL
SELECT batch.uuid, 'unknown_handle' AS outcome
FROM batch
WHERE batch.user_uuid IS NULL
  AND NOT EXISTS (SELECT 1 FROM public.activities WHERE activities.uuid = batch.uuid);
