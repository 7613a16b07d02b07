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
 * PostgreSQL: ids are uuid, times timestamptz (the API's milliseconds converted
 * exactly: a timestamptz holds microseconds, the interval product is exact below
 * 2^53); subqueries are not allowed in a trigger's WHEN, so the first-edit test is in
 * the function body; concurrent edits of one drawing cannot both count as first,
 * because db_edit_append locks the drawing's row (UPDATE) before inserting the edit.
 *
 * Read-only data: thread-safe.
 */
#include "db/sql.h"

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
        return true;
    default:
        return false;
    }
}

bool sql_binary_rows(enum sql_query q)
{
    return q == Q_PENDING_GET;
}

/* ---- migrations -------------------------------------------------------- */

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
};

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
