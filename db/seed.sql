-- The seed's two users and one activity. Idempotent: running it again adds nothing.
-- Fixed uuids make the rows recognisable and let ON CONFLICT skip them.

INSERT INTO public.users (uuid, display_name, handle, email, cognito_user_id)
VALUES
  ('00000000-0000-4000-8000-000000000001', 'Andrew Brown', 'andrewbrown', 'andrew@example.com', 'MOCK-andrewbrown'),
  ('00000000-0000-4000-8000-000000000002', 'Andrew Bayko', 'bayko',       'bayko@example.com',  'MOCK-bayko')
ON CONFLICT DO NOTHING;

INSERT INTO public.activities (uuid, user_uuid, message, expires_at)
SELECT '00000000-0000-4000-8000-0000000000a1', users.uuid, 'This was imported as seed data!',
       current_timestamp + interval '10 day'
FROM public.users
WHERE users.handle = 'andrewbrown'
ON CONFLICT DO NOTHING;
