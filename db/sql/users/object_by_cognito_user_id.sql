-- The signed-in poster: the user whose Cognito access token carries this sub.
SELECT
  users.uuid,
  users.display_name,
  users.handle,
  users.cognito_user_id,
  users.created_at
FROM public.users
WHERE
  users.cognito_user_id = @cognito_user_id
