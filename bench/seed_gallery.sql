-- Seeds a PostgreSQL database as bench/seed_gallery.py seeds a SQLite one: N-1 more
-- drawings for the user (copying the keys of the one drawing the API created, so
-- keys, counters and triggers are real), one second apart, every second one with one
-- edit. Then VACUUM ANALYZE, as autovacuum would do soon after such a load, so the
-- gallery's id query can be an index-only scan. Prints the user's drawing_count.
--   psql -X -q -At -v uid=USER_ID -v n=N -d DATABASE_URL -f bench/seed_gallery.sql
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, i, d.original_key, d.thumbnail_key,
       d.created_at - i * interval '1 second' AS t
  FROM (SELECT original_key, thumbnail_key, created_at FROM drawings
         WHERE user_id = :'uid' LIMIT 1) AS d,
       generate_series(1, :n - 1) AS i;
INSERT INTO drawings (id, user_id, tutorial_id, original_key, thumbnail_key, created_at,
                      updated_at)
SELECT id, :'uid', NULL, original_key, thumbnail_key, t, t FROM seed ORDER BY i;
INSERT INTO edits (drawing_id, image_key, thumbnail_key, prompt, source, created_at)
SELECT id, replace(original_key, '/original/', '/edited/'), thumbnail_key, 'make it colorful',
       'text', t + interval '500 milliseconds'
  FROM seed WHERE i % 2 = 0 ORDER BY i;
COMMIT;
VACUUM ANALYZE users, drawings, edits;
SELECT drawing_count FROM users WHERE id = :'uid';
