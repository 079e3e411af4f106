-- The first answer to each Idempotency-Key on POST /api/activities, scoped to the post's user_handle, so a
-- client's retry gets that answer again instead of a second activity. A key is honoured for 24 hours; after
-- that it may be reused, and its generation goes up so the reused key makes a new activity uuid.
-- Rows are small and kept: deleting one would reset its generation (and so its uuid).

CREATE TABLE public.idempotency_keys (
  user_handle  text        NOT NULL,
  key          text        NOT NULL,
  generation   integer     NOT NULL DEFAULT 0,
  fingerprint  text        NOT NULL,
  status       integer     NOT NULL,
  location     text,
  body         text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT current_timestamp,
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_handle, key)
);
