-- A confirmed Cognito sign-up. Keyed on cognito_user_id, so a redelivered event makes one user and an
-- updated email or name updates it. A handle taken by another user fails with 23505 on users_handle_key.
-- Stored, it is no longer a failed sign-up (sign_up_failed.sql), in the same statement.
WITH cleared AS (
  DELETE FROM public.sign_up_failures WHERE sign_up_failures.cognito_user_id = @cognito_user_id
)
INSERT INTO public.users (
  display_name,
  handle,
  email,
  cognito_user_id
)
VALUES (
  @display_name,
  @handle,
  @email,
  @cognito_user_id
)
ON CONFLICT (cognito_user_id) DO UPDATE SET
  display_name = EXCLUDED.display_name,
  handle = EXCLUDED.handle,
  email = EXCLUDED.email
RETURNING uuid;
