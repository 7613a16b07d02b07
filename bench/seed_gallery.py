"""Seeds N drawings for one user straight into the SQLite database of a server that
has already created that user's first drawing through the API (so keys, counters
and triggers are real). Half of the drawings get one edit, like a used gallery.

usage: seed_gallery.py DB_PATH USER_ID N
"""
import sqlite3
import sys
import uuid

db_path, user_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = sqlite3.connect(db_path, timeout=30)
row = con.execute(
    "SELECT original_key, thumbnail_key, created_at FROM drawings WHERE user_id = ? LIMIT 1",
    (user_id,),
).fetchone()
if row is None:
    sys.exit("seed: the user has no drawing to copy keys from")
orig, thumb, t0 = row
with con:
    for i in range(1, n):
        did = str(uuid.uuid4())
        t = t0 - i * 1000
        con.execute(
            "INSERT INTO drawings (id, user_id, tutorial_id, original_key, thumbnail_key,"
            " created_at, updated_at) VALUES (?, ?, NULL, ?, ?, ?, ?)",
            (did, user_id, orig, thumb, t, t),
        )
        if i % 2 == 0:
            con.execute(
                "INSERT INTO edits (drawing_id, image_key, thumbnail_key, prompt, source,"
                " created_at) VALUES (?, ?, ?, 'make it colorful', 'text', ?)",
                (did, orig.replace("/original/", "/edited/"), thumb, t + 500),
            )
print(con.execute("SELECT drawing_count FROM users WHERE id = ?", (user_id,)).fetchone()[0])
