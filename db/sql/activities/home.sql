-- One page of the home feed, newest first, expired activities left out.
-- Keyset paging: pass the last row's created_at and uuid as @before_created_at / @before_uuid
-- (both NULL for the first page). A backward scan of activities_feed_idx serves it at any depth.
-- The inner LIMIT 100 (the largest page) is one the planner can see: with LIMIT @limit alone, a generic plan
-- (the Api's read pool keeps them) guesses a tenth of the table, and after many rows were deleted it chose a
-- sort of the whole table (23 ms) over the index scan (0.2 ms). The outer LIMIT still stops at @limit rows.
SELECT feed_page.*
FROM (
  SELECT
    activities.uuid,
    users.display_name,
    users.handle,
    activities.message,
    activities.replies_count,
    activities.reposts_count,
    activities.likes_count,
    activities.reply_to_activity_uuid,
    activities.expires_at,
    activities.created_at
  FROM public.activities
  INNER JOIN public.users ON users.uuid = activities.user_uuid
  WHERE (activities.created_at, activities.uuid) < (
      COALESCE(@before_created_at::timestamptz, 'infinity'::timestamptz),
      COALESCE(@before_uuid::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid))
    AND (activities.expires_at IS NULL OR activities.expires_at > current_timestamp)
  ORDER BY activities.created_at DESC, activities.uuid DESC
  LIMIT 100
) feed_page
LIMIT @limit
