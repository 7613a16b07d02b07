-- Seeds a PostgreSQL database as bench/seed_filters.py seeds a SQLite one (see there),
-- then VACUUM ANALYZE. Prints the user's drawing_count.
--   psql -X -q -At -v uid=USER_ID -v n=N -v tut=TUTORIAL_ID -d DATABASE_URL -f bench/seed_filters.sql
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, i, d.original_key, d.thumbnail_key,
       d.created_at - i * interval '1 second' AS t,
       (ARRAY['make it colorful', 'add a sepia tone', 'turn it into a watercolor', 'add a hat',
              'make the sky purple', 'cartoon style with bold lines', 'add snow',
              'black and white'])[(i / 2) % 8 + 1] AS prompt
  FROM (SELECT original_key, thumbnail_key, created_at FROM drawings
         WHERE user_id = :'uid' LIMIT 1) AS d,
       generate_series(1, :n - 1) AS i;
INSERT INTO drawings (id, user_id, tutorial_id, original_key, thumbnail_key, created_at,
                      updated_at)
SELECT id, :'uid', CASE WHEN i % 3 = 0 THEN :'tut'::uuid END, original_key, thumbnail_key, t, t
  FROM seed ORDER BY i;
INSERT INTO edits (drawing_id, image_key, thumbnail_key, prompt, source, created_at, words)
SELECT id, replace(original_key, '/original/', '/edited/'), thumbnail_key, prompt,
       'text', t + interval '500 milliseconds', prompt
  FROM seed WHERE i % 2 = 0 ORDER BY i;
COMMIT;
VACUUM ANALYZE users, drawings, edits;
SELECT drawing_count FROM users WHERE id = :'uid';
