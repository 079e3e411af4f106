-- A confirmed Cognito sign-up. Keyed on cognito_user_id, so a redelivered event makes one user and an
-- updated email or name updates it. A handle taken by another user fails with 23505 on users_handle_key.
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
