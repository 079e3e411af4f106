-- The users.uuid of each handle that has a user, for create-activity jobs queued before a job carried its
-- author's uuid (they carry the handle only). Handles without a user return nothing.
SELECT users.handle, users.uuid
FROM public.users
WHERE users.handle = ANY(@handles::text[]);
