SELECT
  users.uuid,
  users.display_name,
  users.handle,
  users.cognito_user_id,
  users.created_at
FROM public.users
WHERE
  users.handle = @handle
