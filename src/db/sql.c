/*
 * sql.c - the query table compiled for each dialect from queries.inc, and the
 * schema's migrations, which are the one place the dialects' SQL differs wholesale.
 *
 * Schema notes. Per-user counters (drawing_count, edited_count, tutorial_count) make
 * the gallery's total and the stats O(1). Triggers keep them inside the statement
 * that changes drawings or edits, so they cannot drift from the rows:
 *  - a new drawing counts once, and once more for tutorials if it has one;
 *  - a drawing counts as edited when its FIRST edit arrives;
 *  - deleting a drawing undoes all three, BEFORE the delete, so it still sees the
 *    edits that ON DELETE CASCADE is about to remove.
 * Migration 8 adds the same counters per (user, tutorial) (user_tutorials, a row
 * while the user has a drawing of that tutorial), moved by the drawings' own rows
 * (insert, delete, and an update of owner, tutorial or edited), so the gallery's
 * tutorial filter is counted in O(1) as well.
 * PostgreSQL: ids are uuid, times timestamptz (the API's milliseconds converted
 * exactly: a timestamptz holds microseconds, the interval product is exact below
 * 2^53); subqueries are not allowed in a trigger's WHEN, so the first-edit test is in
 * the function body; concurrent edits of one drawing cannot both count as first,
 * because db_edit_append locks the drawing's row (UPDATE) before inserting the edit.
 *
 * Read-only data: thread-safe.
 */
#include "db/sql.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/id.h"

/* ---- queries ----------------------------------------------------------- */

#define T(p) p
#define M(c) c
#define D(s, p) s
static const char *const sqlite_sql[SQL_COUNT] = {
#include "db/queries.inc"
};
#undef T
#undef M
#undef D

#define T(p) "(timestamptz 'epoch' + " p "::int8 * interval '1 millisecond')"
#define M(c) "(extract(epoch FROM " c ") * 1000)::int8"
#define D(s, p) p
static const char *const postgres_sql[SQL_COUNT] = {
#include "db/queries.inc"
};
#undef T
#undef M
#undef D

const char *sql_text(enum db_dialect d, enum sql_query q)
{
    return d == DIALECT_POSTGRES ? postgres_sql[q] : sqlite_sql[q];
}

bool sql_retry_safe(enum sql_query q)
{
    switch (q) {
    case Q_BEGIN:
    case Q_BEGIN_WRITE:
    case Q_PING:
    case Q_USER_ENSURE:
    case Q_USER_COUNTS:
    case Q_TUTORIAL_EXISTS:
    case Q_TUTORIAL_LIST:
    case Q_DRAWING_GET:
    case Q_GALLERY_PAGE:
    case Q_KEYS_REFERENCED:
    case Q_PENDING_GET:
    case Q_ACCOUNT_BY_EMAIL:
    case Q_ACCOUNT_GET:
    case Q_TOMBSTONE_GET:
    case Q_LOGIN_LOCKED_UNTIL:
    case Q_SHARE_LIST:
    case Q_USER_VERSION:
    case Q_GALLERY_DATES_NEW:
    case Q_GALLERY_DATES_OLD:
    case Q_GALLERY_EDITED_NEW:
    case Q_GALLERY_EDITED_OLD:
    case Q_GALLERY_TUTORIAL_NEW:
    case Q_GALLERY_TUTORIAL_OLD:
    case Q_GALLERY_SEARCH_NEW:
    case Q_GALLERY_SEARCH_OLD:
    case Q_EDIT_WORDS_TODO:
    case Q_EDIT_WORDS_SET:
    case Q_IDEM_GET:
    case Q_IDEM_EXISTS:
        return true;
    default:
        return false;
    }
}

bool sql_binary_rows(enum sql_query q)
{
    return q == Q_PENDING_GET;
}

/* Appends "_<tag><the uuid's 32 hex digits>" as an FTS5 string: a scope token of the
 * SQLite search documents (migration 9). id is a canonical uuid (checked by the caller). */
static size_t put_scope(char *out, size_t k, char tag, const char *id)
{
    out[k++] = '"';
    out[k++] = '_';
    out[k++] = tag;
    for (const char *p = id; *p; p++)
        if (*p != '-')
            out[k++] = *p;
    out[k++] = '"';
    out[k++] = ' ';
    return k;
}

char *sql_search_text(enum db_dialect d, const char *words, const char *user_id,
                      const char *tutorial_id)
{
    /* FTS5: "_u<user>" ["_t<tutorial>"] "w1"* "w2"* (implicit AND); tsquery: 'w1':* & 'w2':* */
    const char *open = d == DIALECT_POSTGRES ? "'" : "\"";
    const char *close = d == DIALECT_POSTGRES ? "':*" : "\"*";
    const char *sep = d == DIALECT_POSTGRES ? " & " : " ";
    size_t n = words ? strlen(words) : 0, k = 0, start;
    char *out;

    if (n == 0 || strpbrk(words, "\"'\\*:&|!()<>") != NULL)
        return NULL; /* not words.h's words: never syntax */
    if (d == DIALECT_SQLITE && (!user_id || strlen(user_id) != ID_UUID_LEN - 1 ||
                                (tutorial_id && strlen(tutorial_id) != ID_UUID_LEN - 1)))
        return NULL;
    /* each word grows by at most 3 + 3 bytes of quotes and separator; a word >= 1 byte;
     * the scope is two tokens of 2 + 32 + 3 bytes */
    if (n > (SIZE_MAX - 128) / 8)
        return NULL;
    out = malloc(8 * n + 8 + 2 * ID_UUID_LEN + 16);
    if (!out)
        return NULL;
    if (d == DIALECT_SQLITE) {
        k = put_scope(out, k, 'u', user_id);
        if (tutorial_id)
            k = put_scope(out, k, 't', tutorial_id);
    }
    start = k;
    for (const char *w = words; *w;) {
        size_t len = strcspn(w, " ");

        if (len > 0) {
            if (k > start) {
                memcpy(out + k, sep, strlen(sep));
                k += strlen(sep);
            }
            memcpy(out + k, open, strlen(open));
            k += strlen(open);
            memcpy(out + k, w, len);
            k += len;
            memcpy(out + k, close, strlen(close));
            k += strlen(close);
        }
        w += len;
        while (*w == ' ')
            w++;
    }
    out[k] = '\0';
    if (k == start) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- migrations -------------------------------------------------------- */

/* SQLite's search document of drawing d (migration 9) */
#define SEARCH_DOC                                                                      \
    "'_u' || replace(d.user_id, '-', '') || coalesce(' _t' || replace(d.tutorial_id, '-', ''), '') " \
    "|| ' ' || coalesce((SELECT group_concat(words, ' ') FROM edits WHERE drawing_id = d.id), '')"
/* Rebuilds drawing id's search document: drops it, gives the drawing a key if it has
 * edits and none yet (the next free one in its millisecond), writes it again. */
#define SEARCH_REINDEX(id)                                                              \
    "  DELETE FROM gallery_search\n"                                                    \
    "   WHERE rowid = (SELECT skey FROM drawings WHERE id = " id ");\n"                 \
    "  UPDATE drawings\n"                                                               \
    "     SET skey = coalesce((SELECT max(g.skey) + 1 FROM drawings AS g\n"             \
    "                           WHERE g.skey >= drawings.created_at * 32768\n"          \
    "                             AND g.skey < drawings.created_at * 32768 + 32768),\n" \
    "                         drawings.created_at * 32768)\n"                           \
    "   WHERE id = " id " AND edited = 1 AND skey IS NULL;\n"                           \
    "  INSERT INTO gallery_search(rowid, words)\n"                                     \
    "    SELECT d.skey, " SEARCH_DOC " FROM drawings AS d\n"                            \
    "     WHERE d.id = " id " AND d.edited = 1;\n"

static const char *const sqlite_migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE users (\n"
    "  id TEXT PRIMARY KEY NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  drawing_count INTEGER NOT NULL DEFAULT 0,\n"
    "  edited_count INTEGER NOT NULL DEFAULT 0,\n"
    "  tutorial_count INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE tutorials (\n"
    "  id TEXT PRIMARY KEY NOT NULL,\n"
    "  title TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE drawings (\n"
    "  id TEXT PRIMARY KEY NOT NULL,\n"
    "  user_id TEXT NOT NULL REFERENCES users(id),\n"
    "  tutorial_id TEXT REFERENCES tutorials(id),\n"
    "  original_key TEXT NOT NULL,\n"
    "  thumbnail_key TEXT,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  updated_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX drawings_gallery ON drawings(user_id, created_at DESC, id DESC);\n"
    "CREATE TABLE edits (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  drawing_id TEXT NOT NULL REFERENCES drawings(id) ON DELETE CASCADE,\n"
    "  image_key TEXT NOT NULL,\n"
    "  thumbnail_key TEXT,\n"
    "  prompt TEXT NOT NULL,\n"
    "  source TEXT NOT NULL CHECK (source IN ('text', 'audio')),\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX edits_drawing ON edits(drawing_id, id);\n"
    "CREATE TRIGGER drawings_count_insert AFTER INSERT ON drawings\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count + 1,\n"
    "         tutorial_count = tutorial_count + (NEW.tutorial_id IS NOT NULL)\n"
    "   WHERE id = NEW.user_id;\n"
    "END;\n"
    "CREATE TRIGGER drawings_count_delete BEFORE DELETE ON drawings\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count - 1,\n"
    "         tutorial_count = tutorial_count - (OLD.tutorial_id IS NOT NULL),\n"
    "         edited_count = edited_count -\n"
    "             EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.id)\n"
    "   WHERE id = OLD.user_id;\n"
    "END;\n"
    "CREATE TRIGGER edits_count_first AFTER INSERT ON edits\n"
    "WHEN NOT EXISTS (SELECT 1 FROM edits WHERE drawing_id = NEW.drawing_id AND id <> NEW.id)\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET edited_count = edited_count + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = NEW.drawing_id);\n"
    "END;\n",
    /* 2: the durable job queue (times in ms since the epoch) */
    "CREATE TABLE jobs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL,\n"
    "  object_key TEXT NOT NULL,\n"
    "  ref TEXT,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  run_at INTEGER NOT NULL,\n"
    "  lease_until INTEGER,\n"
    "  last_error TEXT,\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX jobs_due ON jobs(run_at, id);\n",
    /* 3: images storage refused, kept until a job stores them (db_pending_*); the
     * upload jobs of the data: URL fallback it replaces are dropped (their rows keep
     * serving the data: URL, which storage_url passes through) */
    "CREATE TABLE pending (\n"
    "  key TEXT PRIMARY KEY NOT NULL,\n"
    "  drawing_id TEXT NOT NULL REFERENCES drawings(id) ON DELETE CASCADE,\n"
    "  content_type TEXT NOT NULL,\n"
    "  bytes BLOB NOT NULL,\n"
    "  created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX pending_drawing ON pending(drawing_id);\n"
    "DELETE FROM jobs WHERE kind = 'upload';\n",
    /* 4: accounts (SPEC §12): e-mail and password hash on users, refresh tokens (only
     * their SHA-256) in families, failed logins per e-mail hash, and the tombstones of
     * deleted accounts, against which older access tokens are refused */
    "ALTER TABLE users ADD COLUMN email TEXT;\n"
    "ALTER TABLE users ADD COLUMN password_hash TEXT;\n"
    "CREATE UNIQUE INDEX users_email ON users(email);\n"
    "CREATE TABLE refresh_tokens (\n"
    "  token_hash BLOB PRIMARY KEY NOT NULL,\n"
    "  family TEXT NOT NULL,\n"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER NOT NULL,\n"
    "  spent_at INTEGER\n"
    ");\n"
    "CREATE INDEX refresh_tokens_family ON refresh_tokens(family);\n"
    "CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id, expires_at);\n"
    "CREATE TABLE login_failures (\n"
    "  email_hash BLOB NOT NULL,\n"
    "  failed_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX login_failures_email ON login_failures(email_hash, failed_at);\n"
    "CREATE INDEX login_failures_time ON login_failures(failed_at);\n"
    "CREATE TABLE user_tombstones (\n"
    "  user_id TEXT PRIMARY KEY NOT NULL,\n"
    "  deleted_at INTEGER NOT NULL\n"
    ");\n",
    /* 5: share links (db_share_*). The token is kept so its owner can list it again
     * (it is a capability to view one drawing, shown to its owner, not a password);
     * it is looked up by its SHA-256 alone, so lookup time says nothing about how
     * much of a guessed token matched. A revoked link is deleted. */
    "CREATE TABLE shares (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),\n"
    "  token TEXT NOT NULL,\n"
    "  drawing_id TEXT NOT NULL REFERENCES drawings(id) ON DELETE CASCADE,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER,\n"
    "  views INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX shares_drawing ON shares(drawing_id, created_at DESC, id DESC);\n",
    /* 6: gallery filters, search and conditional GET (SPEC §11).
     * users.version counts every change of a
     * user's gallery (a drawing or edit added, changed or deleted, a pending object
     * stored); drawings.edited is 1 once a drawing has an edit; edits.words is the
     * prompt's words (util/words.h: computed by the server, NULL until db_migrate
     * fills it for edits made before this version); drawing_search is the FTS5
     * index of a drawing's words, one document per drawing with edits, its rowid
     * the drawing's first edit's id (a drawing's own rowid may change on VACUUM).
     * The ascii tokenizer only splits at the spaces between words (they hold no
     * other ASCII punctuation) and keeps every other character: the server's words
     * are the tokens. */
    "ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE drawings ADD COLUMN edited INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE edits ADD COLUMN words TEXT;\n"
    "UPDATE drawings SET edited = 1\n"
    " WHERE EXISTS (SELECT 1 FROM edits WHERE drawing_id = drawings.id);\n"
    "CREATE INDEX drawings_tutorial\n"
    "  ON drawings(user_id, tutorial_id, created_at DESC, id DESC, edited);\n"
    "CREATE INDEX drawings_edited ON drawings(user_id, edited, created_at DESC, id DESC);\n"
    "CREATE INDEX edits_words_todo ON edits(id) WHERE words IS NULL;\n"
    "CREATE VIRTUAL TABLE drawing_search USING fts5(words, tokenize = 'ascii', detail = 'none');\n"
    "DROP TRIGGER drawings_count_insert;\n"
    "CREATE TRIGGER drawings_count_insert AFTER INSERT ON drawings\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count + 1,\n"
    "         tutorial_count = tutorial_count + (NEW.tutorial_id IS NOT NULL),\n"
    "         version = version + 1\n"
    "   WHERE id = NEW.user_id;\n"
    "END;\n"
    "DROP TRIGGER drawings_count_delete;\n"
    "CREATE TRIGGER drawings_count_delete BEFORE DELETE ON drawings\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count - 1,\n"
    "         tutorial_count = tutorial_count - (OLD.tutorial_id IS NOT NULL),\n"
    "         edited_count = edited_count -\n"
    "             EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.id),\n"
    "         version = version + 1\n"
    "   WHERE id = OLD.user_id;\n"
    "  DELETE FROM drawing_search\n"
    "   WHERE rowid = (SELECT min(id) FROM edits WHERE drawing_id = OLD.id);\n"
    "END;\n"
    "CREATE TRIGGER drawings_version AFTER UPDATE OF tutorial_id, original_key, thumbnail_key,\n"
    "  created_at, updated_at ON drawings\n"
    "BEGIN\n"
    "  UPDATE users SET version = version + 1 WHERE id = NEW.user_id;\n"
    "END;\n"
    "CREATE TRIGGER edits_search_insert AFTER INSERT ON edits\n"
    "BEGIN\n"
    "  UPDATE drawings SET edited = 1 WHERE id = NEW.drawing_id AND edited = 0;\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = NEW.drawing_id);\n"
    "  DELETE FROM drawing_search\n"
    "   WHERE rowid = (SELECT min(id) FROM edits WHERE drawing_id = NEW.drawing_id);\n"
    "  INSERT INTO drawing_search(rowid, words)\n"
    "    SELECT min(id), group_concat(words, ' ') FROM edits WHERE drawing_id = NEW.drawing_id;\n"
    "END;\n"
    "CREATE TRIGGER edits_search_update AFTER UPDATE OF words ON edits\n"
    "BEGIN\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = NEW.drawing_id);\n"
    "  DELETE FROM drawing_search\n"
    "   WHERE rowid = (SELECT min(id) FROM edits WHERE drawing_id = NEW.drawing_id);\n"
    "  INSERT INTO drawing_search(rowid, words)\n"
    "    SELECT min(id), group_concat(words, ' ') FROM edits WHERE drawing_id = NEW.drawing_id;\n"
    "END;\n"
    /* edits go with their drawing (whose delete trigger dropped the document); one
     * deleted alone would leave the rest re-indexed */
    "CREATE TRIGGER edits_search_delete AFTER DELETE ON edits\n"
    "BEGIN\n"
    "  UPDATE drawings SET edited = EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.drawing_id)\n"
    "   WHERE id = OLD.drawing_id;\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = OLD.drawing_id);\n"
    "  DELETE FROM drawing_search WHERE rowid = OLD.id;\n"
    "  DELETE FROM drawing_search\n"
    "   WHERE rowid = (SELECT min(id) FROM edits WHERE drawing_id = OLD.drawing_id);\n"
    "  INSERT INTO drawing_search(rowid, words)\n"
    "    SELECT min(id), group_concat(words, ' ') FROM edits WHERE drawing_id = OLD.drawing_id\n"
    "    HAVING count(*) > 0;\n"
    "END;\n"
    "CREATE TRIGGER pending_version AFTER DELETE ON pending\n"
    "BEGIN\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = OLD.drawing_id);\n"
    "END;\n",
    /* 7: what the local editor applied and ignored, per edit (SPEC §16) */
    "ALTER TABLE edits ADD COLUMN applied TEXT;\n"
    "ALTER TABLE edits ADD COLUMN ignored TEXT;\n",
    /* 8: the search's matches find their drawings by id and test the user, the dates and
     * the other filters on the index alone, one B-tree search a match, not two */
    "CREATE INDEX drawings_search_filter\n"
    "  ON drawings(id, user_id, created_at, edited, tutorial_id);\n"
    /* and per (user, tutorial) counters, kept like the users' (a row while the user has
     * a drawing of that tutorial), so a tutorial's count is O(1) too. An update that
     * moves a drawing (owner, tutorial or edited) takes it out of its old row and puts
     * it into its new one. */
    "CREATE TABLE user_tutorials (\n"
    "  user_id TEXT NOT NULL,\n"
    "  tutorial_id TEXT NOT NULL,\n"
    "  drawing_count INTEGER NOT NULL DEFAULT 0,\n"
    "  edited_count INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (user_id, tutorial_id)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO user_tutorials(user_id, tutorial_id, drawing_count, edited_count)\n"
    "  SELECT user_id, tutorial_id, count(*), sum(edited) FROM drawings\n"
    "   WHERE tutorial_id IS NOT NULL GROUP BY user_id, tutorial_id;\n"
    "CREATE TRIGGER user_tutorials_insert AFTER INSERT ON drawings\n"
    "WHEN NEW.tutorial_id IS NOT NULL\n"
    "BEGIN\n"
    "  INSERT INTO user_tutorials(user_id, tutorial_id, drawing_count, edited_count)\n"
    "    VALUES (NEW.user_id, NEW.tutorial_id, 1, NEW.edited)\n"
    "    ON CONFLICT (user_id, tutorial_id) DO UPDATE\n"
    "    SET drawing_count = drawing_count + 1,\n"
    "        edited_count = edited_count + excluded.edited_count;\n"
    "END;\n"
    "CREATE TRIGGER user_tutorials_delete AFTER DELETE ON drawings\n"
    "WHEN OLD.tutorial_id IS NOT NULL\n"
    "BEGIN\n"
    "  UPDATE user_tutorials\n"
    "     SET drawing_count = drawing_count - 1, edited_count = edited_count - OLD.edited\n"
    "   WHERE user_id = OLD.user_id AND tutorial_id = OLD.tutorial_id;\n"
    "  DELETE FROM user_tutorials\n"
    "   WHERE user_id = OLD.user_id AND tutorial_id = OLD.tutorial_id AND drawing_count = 0;\n"
    "END;\n"
    "CREATE TRIGGER user_tutorials_update\n"
    "  AFTER UPDATE OF user_id, tutorial_id, edited ON drawings\n"
    "WHEN OLD.user_id IS NOT NEW.user_id OR OLD.tutorial_id IS NOT NEW.tutorial_id\n"
    "  OR OLD.edited IS NOT NEW.edited\n"
    "BEGIN\n"
    "  UPDATE user_tutorials\n"
    "     SET drawing_count = drawing_count - 1, edited_count = edited_count - OLD.edited\n"
    "   WHERE OLD.tutorial_id IS NOT NULL\n"
    "     AND user_id = OLD.user_id AND tutorial_id = OLD.tutorial_id;\n"
    "  DELETE FROM user_tutorials\n"
    "   WHERE user_id = OLD.user_id AND tutorial_id = OLD.tutorial_id AND drawing_count = 0;\n"
    "  INSERT INTO user_tutorials(user_id, tutorial_id, drawing_count, edited_count)\n"
    "    SELECT NEW.user_id, NEW.tutorial_id, 1, NEW.edited WHERE NEW.tutorial_id IS NOT NULL\n"
    "    ON CONFLICT (user_id, tutorial_id) DO UPDATE\n"
    "    SET drawing_count = drawing_count + 1,\n"
    "        edited_count = edited_count + excluded.edited_count;\n"
    "END;\n",
    /* 9: the search answered by its index alone (queries.inc, GF_SEARCH_PAGE). A
     * drawing with edits has one document in gallery_search: the scope tokens "_u" and
     * "_t" + the uuid's hex digits of its user and tutorial ('_' is a token character
     * here and never in the server's words, so no search word can reach them), then the
     * words of its edits; its rowid is drawings.skey, created_at * 32768 plus a
     * tie-break among the drawings of the same millisecond (the next free one when the
     * document is first made; by id for those indexed here), so rowid order is the
     * gallery's order and a date range is a rowid range; a page's rowids find their
     * drawings by drawings_skey. Prefixes of 1 to 8 characters are
     * indexed: a prefix query then costs what a whole word does (measured: "add"* 0.5
     * -> 0.04 ms over 5,000 documents) for an index about twice the size. */
    "DROP TRIGGER edits_search_insert;\n"
    "DROP TRIGGER edits_search_update;\n"
    "DROP TRIGGER edits_search_delete;\n"
    "DROP TRIGGER drawings_count_delete;\n"
    "DROP TABLE drawing_search;\n"
    "DROP INDEX drawings_search_filter;\n"
    "ALTER TABLE drawings ADD COLUMN skey INTEGER;\n"
    "CREATE UNIQUE INDEX drawings_skey ON drawings(skey) WHERE skey IS NOT NULL;\n"
    "CREATE VIRTUAL TABLE gallery_search USING fts5(words,\n"
    "  tokenize = \"ascii tokenchars '_'\", detail = 'none', prefix = '1 2 3 4 5 6 7 8');\n"
    "UPDATE drawings SET skey = s.k\n"
    "  FROM (SELECT id, created_at * 32768 - 1 +\n"
    "               row_number() OVER (PARTITION BY created_at ORDER BY id) AS k\n"
    "          FROM drawings WHERE edited = 1) AS s\n"
    " WHERE s.id = drawings.id;\n"
    "INSERT INTO gallery_search(rowid, words)\n"
    "  SELECT d.skey, " SEARCH_DOC " FROM drawings AS d WHERE d.skey IS NOT NULL;\n"
    "CREATE TRIGGER drawings_count_delete BEFORE DELETE ON drawings\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count - 1,\n"
    "         tutorial_count = tutorial_count - (OLD.tutorial_id IS NOT NULL),\n"
    "         edited_count = edited_count -\n"
    "             EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.id),\n"
    "         version = version + 1\n"
    "   WHERE id = OLD.user_id;\n"
    "  DELETE FROM gallery_search WHERE rowid = OLD.skey;\n"
    "END;\n"
    "CREATE TRIGGER edits_search_insert AFTER INSERT ON edits\n"
    "BEGIN\n"
    "  UPDATE drawings SET edited = 1 WHERE id = NEW.drawing_id AND edited = 0;\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = NEW.drawing_id);\n"
    SEARCH_REINDEX("NEW.drawing_id")
    "END;\n"
    "CREATE TRIGGER edits_search_update AFTER UPDATE OF words ON edits\n"
    "BEGIN\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = NEW.drawing_id);\n"
    SEARCH_REINDEX("NEW.drawing_id")
    "END;\n"
    /* a drawing's delete drops its document first; its edits then find no drawing */
    "CREATE TRIGGER edits_search_delete AFTER DELETE ON edits\n"
    "BEGIN\n"
    "  UPDATE drawings SET edited = EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.drawing_id)\n"
    "   WHERE id = OLD.drawing_id;\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = OLD.drawing_id);\n"
    SEARCH_REINDEX("OLD.drawing_id")
    "END;\n"
    /* what the document's rowid and scope come from: a new key, a new document */
    "CREATE TRIGGER drawings_search_move AFTER UPDATE OF user_id, tutorial_id, created_at\n"
    "  ON drawings\n"
    "WHEN OLD.skey IS NOT NULL\n"
    "BEGIN\n"
    "  DELETE FROM gallery_search WHERE rowid = OLD.skey;\n"
    "  UPDATE drawings SET skey = NULL WHERE id = NEW.id;\n"
    SEARCH_REINDEX("NEW.id")
    "END;\n",
    /* 10: SPEC §14. Idempotency keys: a row per (user, key), inserted running (status
     * NULL) under its owner's lease before the work starts, completed with the
     * final answer in one statement; expired rows are deleted by the job worker. Edit
     * counts per user and fixed minute (minute = ms / 60000), shared by every
     * server; old windows likewise. */
    "CREATE TABLE idempotency_keys (\n"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
    "  key TEXT NOT NULL,\n"
    "  fingerprint TEXT NOT NULL,\n"
    "  owner TEXT NOT NULL,\n"
    "  lease_until INTEGER NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  status INTEGER,\n"
    "  content_type TEXT,\n"
    "  headers TEXT,\n"
    "  body TEXT,\n"
    "  PRIMARY KEY (user_id, key)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);\n"
    "CREATE TABLE rate_counts (\n"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
    "  minute INTEGER NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  PRIMARY KEY (user_id, minute)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX rate_counts_minute ON rate_counts(minute);\n",
    /* 11: the search index kept in few segments: FTS5 merges a level once it holds 2
     * segments (its default: 4), and the job worker's sweep asks for more merging
     * (Q_SEARCH_MERGE, 64 pages a minute: an index already large is merged in small
     * steps, not here under the migration's write lock); a page of q=sepia over 5,000
     * documents was 66 us with the index as 10,000 trigger inserts left it, 47 us with
     * automerge 2, 27 us merged */
    "INSERT INTO gallery_search(gallery_search, rank) VALUES('automerge', 2);\n"
    "INSERT INTO gallery_search(gallery_search, rank) VALUES('usermerge', 2);\n",
};
#undef SEARCH_DOC
#undef SEARCH_REINDEX

static const char *const postgres_migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE users (\n"
    "  id uuid PRIMARY KEY,\n"
    "  created_at timestamptz NOT NULL,\n"
    "  drawing_count bigint NOT NULL DEFAULT 0,\n"
    "  edited_count bigint NOT NULL DEFAULT 0,\n"
    "  tutorial_count bigint NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE tutorials (\n"
    "  id uuid PRIMARY KEY,\n"
    "  title text NOT NULL,\n"
    "  created_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE TABLE drawings (\n"
    "  id uuid PRIMARY KEY,\n"
    "  user_id uuid NOT NULL REFERENCES users(id),\n"
    "  tutorial_id uuid REFERENCES tutorials(id),\n"
    "  original_key text NOT NULL,\n"
    "  thumbnail_key text,\n"
    "  created_at timestamptz NOT NULL,\n"
    "  updated_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX drawings_gallery ON drawings(user_id, created_at DESC, id DESC);\n"
    "CREATE TABLE edits (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  drawing_id uuid NOT NULL REFERENCES drawings(id) ON DELETE CASCADE,\n"
    "  image_key text NOT NULL,\n"
    "  thumbnail_key text,\n"
    "  prompt text NOT NULL,\n"
    "  source text NOT NULL CHECK (source IN ('text', 'audio')),\n"
    "  created_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX edits_drawing ON edits(drawing_id, id);\n"
    "CREATE FUNCTION drawings_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count + 1,\n"
    "         tutorial_count = tutorial_count + (NEW.tutorial_id IS NOT NULL)::int\n"
    "   WHERE id = NEW.user_id;\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER drawings_count_insert AFTER INSERT ON drawings\n"
    "  FOR EACH ROW EXECUTE FUNCTION drawings_count_insert();\n"
    "CREATE FUNCTION drawings_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count - 1,\n"
    "         tutorial_count = tutorial_count - (OLD.tutorial_id IS NOT NULL)::int,\n"
    "         edited_count = edited_count -\n"
    "             (EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.id))::int\n"
    "   WHERE id = OLD.user_id;\n"
    "  RETURN OLD;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER drawings_count_delete BEFORE DELETE ON drawings\n"
    "  FOR EACH ROW EXECUTE FUNCTION drawings_count_delete();\n"
    "CREATE FUNCTION edits_count_first() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF NOT EXISTS (SELECT 1 FROM edits\n"
    "                  WHERE drawing_id = NEW.drawing_id AND id <> NEW.id) THEN\n"
    "    UPDATE users\n"
    "       SET edited_count = edited_count + 1\n"
    "     WHERE id = (SELECT user_id FROM drawings WHERE id = NEW.drawing_id);\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER edits_count_first AFTER INSERT ON edits\n"
    "  FOR EACH ROW EXECUTE FUNCTION edits_count_first();\n",
    /* 2: the durable job queue */
    "CREATE TABLE jobs (\n"
    "  id bigserial PRIMARY KEY,\n"
    "  kind text NOT NULL,\n"
    "  object_key text NOT NULL,\n"
    "  ref text,\n"
    "  attempts integer NOT NULL DEFAULT 0,\n"
    "  run_at timestamptz NOT NULL,\n"
    "  lease_until timestamptz,\n"
    "  last_error text,\n"
    "  created_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX jobs_due ON jobs(run_at, id);\n",
    /* 3: as SQLite's */
    "CREATE TABLE pending (\n"
    "  key text PRIMARY KEY,\n"
    "  drawing_id uuid NOT NULL REFERENCES drawings(id) ON DELETE CASCADE,\n"
    "  content_type text NOT NULL,\n"
    "  bytes bytea NOT NULL,\n"
    "  created_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX pending_drawing ON pending(drawing_id);\n"
    "DELETE FROM jobs WHERE kind = 'upload';\n",
    /* 4: as SQLite's */
    "ALTER TABLE users ADD COLUMN email text, ADD COLUMN password_hash text;\n"
    "CREATE UNIQUE INDEX users_email ON users(email);\n"
    "CREATE TABLE refresh_tokens (\n"
    "  token_hash bytea PRIMARY KEY,\n"
    "  family uuid NOT NULL,\n"
    "  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
    "  created_at timestamptz NOT NULL,\n"
    "  expires_at timestamptz NOT NULL,\n"
    "  spent_at timestamptz\n"
    ");\n"
    "CREATE INDEX refresh_tokens_family ON refresh_tokens(family);\n"
    "CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id, expires_at);\n"
    "CREATE TABLE login_failures (\n"
    "  email_hash bytea NOT NULL,\n"
    "  failed_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX login_failures_email ON login_failures(email_hash, failed_at);\n"
    "CREATE INDEX login_failures_time ON login_failures(failed_at);\n"
    "CREATE TABLE user_tombstones (\n"
    "  user_id uuid PRIMARY KEY,\n"
    "  deleted_at timestamptz NOT NULL\n"
    ");\n",
    /* 5: as SQLite's */
    "CREATE TABLE shares (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),\n"
    "  token text NOT NULL,\n"
    "  drawing_id uuid NOT NULL REFERENCES drawings(id) ON DELETE CASCADE,\n"
    "  created_at timestamptz NOT NULL,\n"
    "  expires_at timestamptz,\n"
    "  views bigint NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX shares_drawing ON shares(drawing_id, created_at DESC, id DESC);\n",
    /* 6: as SQLite's; drawings.search is the tsvector of the drawing's words, built
     * with array_to_tsvector (the server's words are the lexemes: no parser, no
     * dictionary), NULL while it has no edit, under a GIN index. A tsvector holds
     * under 1 MB of distinct words: thousands of edits of one drawing. */
    "ALTER TABLE users ADD COLUMN version bigint NOT NULL DEFAULT 0;\n"
    "ALTER TABLE drawings ADD COLUMN edited integer NOT NULL DEFAULT 0,\n"
    "  ADD COLUMN search tsvector;\n"
    "ALTER TABLE edits ADD COLUMN words text;\n"
    "UPDATE drawings AS d SET edited = 1\n"
    " WHERE EXISTS (SELECT 1 FROM edits WHERE drawing_id = d.id);\n"
    "CREATE INDEX drawings_tutorial\n"
    "  ON drawings(user_id, tutorial_id, created_at DESC, id DESC) INCLUDE (edited);\n"
    "CREATE INDEX drawings_edited ON drawings(user_id, edited, created_at DESC, id DESC);\n"
    "CREATE INDEX drawings_search ON drawings USING gin (search);\n"
    "CREATE INDEX edits_words_todo ON edits(id) WHERE words IS NULL;\n"
    "CREATE OR REPLACE FUNCTION drawings_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count + 1,\n"
    "         tutorial_count = tutorial_count + (NEW.tutorial_id IS NOT NULL)::int,\n"
    "         version = version + 1\n"
    "   WHERE id = NEW.user_id;\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE OR REPLACE FUNCTION drawings_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users\n"
    "     SET drawing_count = drawing_count - 1,\n"
    "         tutorial_count = tutorial_count - (OLD.tutorial_id IS NOT NULL)::int,\n"
    "         edited_count = edited_count -\n"
    "             (EXISTS (SELECT 1 FROM edits WHERE drawing_id = OLD.id))::int,\n"
    "         version = version + 1\n"
    "   WHERE id = OLD.user_id;\n"
    "  RETURN OLD;\n"
    "END\n"
    "$$;\n"
    "CREATE FUNCTION drawings_version() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users SET version = version + 1 WHERE id = NEW.user_id;\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER drawings_version AFTER UPDATE OF tutorial_id, original_key, thumbnail_key,\n"
    "  created_at, updated_at ON drawings FOR EACH ROW EXECUTE FUNCTION drawings_version();\n"
    "CREATE FUNCTION edits_search() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "  d uuid;\n"
    "BEGIN\n"
    "  IF TG_OP = 'DELETE' THEN\n"
    "    d := OLD.drawing_id;\n"
    "  ELSE\n"
    "    d := NEW.drawing_id;\n"
    "  END IF;\n"
    "  UPDATE drawings\n"
    "     SET edited = (EXISTS (SELECT 1 FROM edits WHERE drawing_id = d))::int,\n"
    "         search = (SELECT array_to_tsvector(array_remove(\n"
    "                     string_to_array(string_agg(words, ' '), ' '), ''))\n"
    "                     FROM edits WHERE drawing_id = d)\n"
    "   WHERE id = d;\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = d);\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER edits_search AFTER INSERT OR DELETE OR UPDATE OF words ON edits\n"
    "  FOR EACH ROW EXECUTE FUNCTION edits_search();\n"
    "CREATE FUNCTION pending_version() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE users SET version = version + 1\n"
    "   WHERE id = (SELECT user_id FROM drawings WHERE id = OLD.drawing_id);\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER pending_version AFTER DELETE ON pending\n"
    "  FOR EACH ROW EXECUTE FUNCTION pending_version();\n",
    /* 7: as SQLite's */
    "ALTER TABLE edits ADD COLUMN applied text, ADD COLUMN ignored text;\n",
    /* 8: as SQLite's counters (the search's matches are drawings rows already: no
     * index for them) */
    "CREATE TABLE user_tutorials (\n"
    "  user_id uuid NOT NULL,\n"
    "  tutorial_id uuid NOT NULL,\n"
    "  drawing_count bigint NOT NULL DEFAULT 0,\n"
    "  edited_count bigint NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (user_id, tutorial_id)\n"
    ");\n"
    "INSERT INTO user_tutorials(user_id, tutorial_id, drawing_count, edited_count)\n"
    "  SELECT user_id, tutorial_id, count(*), sum(edited) FROM drawings\n"
    "   WHERE tutorial_id IS NOT NULL GROUP BY user_id, tutorial_id;\n"
    "CREATE FUNCTION user_tutorials_count() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP <> 'INSERT' AND OLD.tutorial_id IS NOT NULL THEN\n"
    "    UPDATE user_tutorials\n"
    "       SET drawing_count = drawing_count - 1, edited_count = edited_count - OLD.edited\n"
    "     WHERE user_id = OLD.user_id AND tutorial_id = OLD.tutorial_id;\n"
    "    DELETE FROM user_tutorials\n"
    "     WHERE user_id = OLD.user_id AND tutorial_id = OLD.tutorial_id AND drawing_count = 0;\n"
    "  END IF;\n"
    "  IF TG_OP <> 'DELETE' AND NEW.tutorial_id IS NOT NULL THEN\n"
    "    INSERT INTO user_tutorials AS t(user_id, tutorial_id, drawing_count, edited_count)\n"
    "      VALUES (NEW.user_id, NEW.tutorial_id, 1, NEW.edited)\n"
    "      ON CONFLICT (user_id, tutorial_id) DO UPDATE\n"
    "      SET drawing_count = t.drawing_count + 1,\n"
    "          edited_count = t.edited_count + excluded.edited_count;\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END\n"
    "$$;\n"
    "CREATE TRIGGER user_tutorials_count AFTER INSERT OR DELETE ON drawings\n"
    "  FOR EACH ROW EXECUTE FUNCTION user_tutorials_count();\n"
    "CREATE TRIGGER user_tutorials_update\n"
    "  AFTER UPDATE OF user_id, tutorial_id, edited ON drawings\n"
    "  FOR EACH ROW WHEN ((OLD.user_id, OLD.tutorial_id, OLD.edited)\n"
    "                     IS DISTINCT FROM (NEW.user_id, NEW.tutorial_id, NEW.edited))\n"
    "  EXECUTE FUNCTION user_tutorials_count();\n",
    /* 9: SQLite's search index; the GIN index and its statement stay as they are (kept
     * so that a version means the same schema step on both) */
    "DO $$ BEGIN END $$;\n",
    /* 10: as SQLite's */
    "CREATE TABLE idempotency_keys (\n"
    "  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
    "  key text NOT NULL,\n"
    "  fingerprint text NOT NULL,\n"
    "  owner text NOT NULL,\n"
    "  lease_until timestamptz NOT NULL,\n"
    "  created_at timestamptz NOT NULL,\n"
    "  status integer,\n"
    "  content_type text,\n"
    "  headers text,\n"
    "  body text,\n"
    "  PRIMARY KEY (user_id, key)\n"
    ");\n"
    "CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);\n"
    "CREATE TABLE rate_counts (\n"
    "  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
    "  minute bigint NOT NULL,\n"
    "  count bigint NOT NULL,\n"
    "  PRIMARY KEY (user_id, minute)\n"
    ");\n"
    "CREATE INDEX rate_counts_minute ON rate_counts(minute);\n",
    /* 11: SQLite's search index settings */
    "DO $$ BEGIN END $$;\n",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *const *sql_migrations(enum db_dialect d, size_t *n)
{
    if (d == DIALECT_POSTGRES) {
        *n = COUNT(postgres_migrations);
        return postgres_migrations;
    }
    *n = COUNT(sqlite_migrations);
    return sqlite_migrations;
}

const char *sql_migrations_table(enum db_dialect d)
{
    if (d == DIALECT_POSTGRES)
        return "CREATE TABLE IF NOT EXISTS schema_migrations ("
               "version bigint PRIMARY KEY, applied_at timestamptz NOT NULL)";
    return "CREATE TABLE IF NOT EXISTS schema_migrations ("
           "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";
}
