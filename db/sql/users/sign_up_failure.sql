-- Why a signed-in user with no row in users has none: the handle their sign-up asked for, which another user holds.
-- No row: their sign-up has not failed, so it is still on its way.
SELECT
  sign_up_failures.handle,
  sign_up_failures.failed_at
FROM public.sign_up_failures
WHERE
  sign_up_failures.cognito_user_id = @cognito_user_id
