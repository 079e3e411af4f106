-- A confirmed Cognito sign-up that could not be stored, and why: its handle is another user's. The Api answers that
-- user's posts with the reason (403) instead of "your sign-up is on its way" (409) forever. The row goes when the
-- sign-up is stored (users/upsert.sql), say after an operator changed the handle and sent the sign-up again.

CREATE TABLE public.sign_up_failures (
  cognito_user_id  text        NOT NULL,
  handle           text        NOT NULL,
  failed_at        timestamptz NOT NULL DEFAULT current_timestamp,
  CONSTRAINT sign_up_failures_pkey PRIMARY KEY (cognito_user_id)
);
