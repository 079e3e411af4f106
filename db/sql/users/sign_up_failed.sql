-- A confirmed sign-up whose handle another user holds (23505 on users_handle_key in upsert.sql): kept, so that the Api
-- tells that user why they cannot post. The latest failure wins; none is kept for a user stored meanwhile (a redelivered
-- event of theirs that failed after a later one with a free handle was stored).
INSERT INTO public.sign_up_failures (
  cognito_user_id,
  handle
)
SELECT
  @cognito_user_id,
  @handle
WHERE NOT EXISTS (SELECT FROM public.users WHERE users.cognito_user_id = @cognito_user_id)
ON CONFLICT (cognito_user_id) DO UPDATE SET
  handle = EXCLUDED.handle,
  failed_at = current_timestamp
RETURNING cognito_user_id;
