-- One activity, as the Api answers GET /api/activities/{uuid}; an expired one is not found.
SELECT
  activities.uuid,
  users.display_name,
  users.handle,
  activities.message,
  activities.created_at,
  activities.expires_at
FROM public.activities
INNER JOIN public.users ON users.uuid = activities.user_uuid
WHERE
  activities.uuid = @uuid
  -- An expired post is gone, as from the feed, though the purge deletes its row only later.
  AND (activities.expires_at IS NULL OR activities.expires_at > current_timestamp)
