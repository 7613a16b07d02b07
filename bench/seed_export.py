"""Seeds N drawings with real image files for one user of a server on local storage
and SQLite, whose first drawing was made through the API: each new drawing's original
(and, for every other one, an edit) is a copy of that drawing's original file under a
fresh key, so an export reads N + N/2 real objects. Keys, counters and triggers are
the server's own (rows are inserted like bench/seed_gallery.py does).

usage: seed_export.py DATA_DIR USER_ID N
"""
import os
import shutil
import sqlite3
import sys
import uuid

data_dir, user_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
media = os.path.join(data_dir, "media")
con = sqlite3.connect(os.path.join(data_dir, "novadraw.db"), timeout=30)
row = con.execute(
    "SELECT original_key, thumbnail_key, created_at FROM drawings WHERE user_id = ? LIMIT 1",
    (user_id,),
).fetchone()
if row is None:
    sys.exit("seed: the user has no drawing to copy")
orig, thumb, t0 = row
src = os.path.join(media, orig)
os.makedirs(os.path.join(media, "users", user_id, "edited"), exist_ok=True)


def copy(kind: str) -> str:
    key = f"users/{user_id}/{kind}/bench_{uuid.uuid4().hex}.png"
    shutil.copyfile(src, os.path.join(media, key))
    return key


with con:
    for i in range(1, n):
        did = str(uuid.uuid4())
        t = t0 - i * 1000
        con.execute(
            "INSERT INTO drawings (id, user_id, tutorial_id, original_key, thumbnail_key,"
            " created_at, updated_at) VALUES (?, ?, NULL, ?, ?, ?, ?)",
            (did, user_id, copy("original"), thumb, t, t),
        )
        if i % 2 == 0:
            con.execute(
                "INSERT INTO edits (drawing_id, image_key, thumbnail_key, prompt, source,"
                " created_at) VALUES (?, ?, ?, 'make it colorful', 'text', ?)",
                (did, copy("edited"), thumb, t + 500),
            )
print(con.execute("SELECT drawing_count FROM users WHERE id = ?", (user_id,)).fetchone()[0])
