"""Seeds N drawings for one user, for bench/gallery_filters.sh, straight into the
SQLite database of a server that has already created that user's first drawing
through the API (keys, counters and triggers are real). One second apart; every
third one of tutorial TUTORIAL_ID; every second one with an edit whose prompt
cycles through PROMPTS (plain lowercase ASCII, so its words are the prompt itself,
as util/words.c would store them). Prints the user's drawing_count.

usage: seed_filters.py DB_PATH USER_ID N TUTORIAL_ID
"""
import sqlite3
import sys
import uuid

PROMPTS = [
    "make it colorful", "add a sepia tone", "turn it into a watercolor", "add a hat",
    "make the sky purple", "cartoon style with bold lines", "add snow", "black and white",
]

db_path, user_id, n, tutorial = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
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
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (did, user_id, tutorial if i % 3 == 0 else None, orig, thumb, t, t),
        )
        if i % 2 == 0:
            prompt = PROMPTS[(i // 2) % len(PROMPTS)]
            con.execute(
                "INSERT INTO edits (drawing_id, image_key, thumbnail_key, prompt, source,"
                " created_at, words) VALUES (?, ?, ?, ?, 'text', ?, ?)",
                (did, orig.replace("/original/", "/edited/"), thumb, prompt, t + 500, prompt),
            )
con.execute("ANALYZE")
print(con.execute("SELECT drawing_count FROM users WHERE id = ?", (user_id,)).fetchone()[0])
