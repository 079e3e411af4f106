-- The seed's schema (week 4) with its defects fixed:
--   timestamps carry a time zone; users.handle and users.cognito_user_id are unique;
--   activities.user_uuid references users; reply_to_activity_uuid is a uuid;
--   the counters are NOT NULL; no DROP TABLE: this file runs once, journaled by DbUp.
-- gen_random_uuid() is built into PostgreSQL 13+, so no extension (or superuser on RDS) is needed.

CREATE TABLE public.users (
  uuid            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name    text        NOT NULL,
  handle          text        NOT NULL CONSTRAINT users_handle_key UNIQUE,
  email           text        NOT NULL,
  cognito_user_id text        NOT NULL CONSTRAINT users_cognito_user_id_key UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT current_timestamp
);

CREATE TABLE public.activities (
  uuid                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  user_uuid              uuid        NOT NULL CONSTRAINT activities_user_uuid_fkey REFERENCES public.users (uuid),
  message                text        NOT NULL,
  replies_count          integer     NOT NULL DEFAULT 0,
  reposts_count          integer     NOT NULL DEFAULT 0,
  likes_count            integer     NOT NULL DEFAULT 0,
  reply_to_activity_uuid uuid,
  expires_at             timestamptz,
  created_at             timestamptz NOT NULL DEFAULT current_timestamp
);

-- The home feed reads newest first and pages by (created_at, uuid); a backward scan of this index
-- serves both the order and the keyset condition.
CREATE INDEX activities_feed_idx ON public.activities (created_at, uuid);
