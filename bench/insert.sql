-- pgbench's baseline: the seed's single-row INSERT (handle subselect), one autocommit transaction each.
\set n random(1, 1000)
INSERT INTO public.activities (user_uuid, message, expires_at)
VALUES ((SELECT uuid FROM public.users WHERE handle = 'bench' || :n), 'a baseline insert', now() + interval '1 day');
