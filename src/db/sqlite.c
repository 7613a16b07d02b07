/*
 * sqlite.c - the SQLite backend (db_sqlite_ops): connections, migrations, queries.
 *
 * Owns one sqlite3 connection per thread that has touched the database, each with
 * its own lazily prepared statements. Every connection is on a mutex-guarded list
 * in struct db_sqlite; a connection is closed either when its thread exits (the
 * pthread key's destructor takes it off the list first) or by close(), whichever
 * comes first. Thread-safe: a connection is only used by the thread that opened it,
 * so connections are opened NOMUTEX. close() must not race with threads that are
 * still using the database (stop and join them first). This is the only file that
 * includes sqlite3.h.
 */
#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/log.h"
#include "util/timefmt.h"

#define BUSY_TIMEOUT_MS 5000
#define WAL_RETRY_MS 10

/* ---- schema ------------------------------------------------------------ */

/*
 * Per-user counters (drawing_count, edited_count, tutorial_count) make the
 * gallery's total and the stats O(1). Triggers maintain them inside the statement
 * that changes drawings or edits, so they can never drift from the rows, whatever
 * the transaction:
 *  - a new drawing counts once, and once more for tutorials if it has one;
 *  - a drawing counts as edited when its FIRST edit arrives;
 *  - deleting a drawing undoes all three. That trigger runs BEFORE the delete so
 *    it still sees the edits that ON DELETE CASCADE is about to remove.
 */
static const char *const migrations[] = {
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
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* ---- statements -------------------------------------------------------- */

enum stmt {
    ST_BEGIN,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PING,
    ST_MIGRATION_APPLIED,
    ST_MIGRATION_RECORD,
    ST_USER_ENSURE,
    ST_USER_COUNTS,
    ST_TUTORIAL_ADD,
    ST_TUTORIAL_EXISTS,
    ST_TUTORIAL_LIST,
    ST_DRAWING_INSERT,
    ST_DRAWING_GET,
    ST_DRAWING_PAGE,
    ST_DRAWING_DELETE,
    ST_DRAWING_TOUCH,
    ST_EDIT_INSERT,
    ST_EDITS_OF_DRAWING,
    ST_EDITS_OF_PAGE,
    ST_JOB_ADD,
    ST_JOB_CLAIM,
    ST_JOB_DONE,
    ST_JOB_RETRY,
    ST_KEYS_REFERENCED,
    ST_DATA_ORIG_GET,
    ST_DATA_EDIT_GET,
    ST_DATA_ORIG_SWAP,
    ST_DATA_EDIT_SWAP,
    ST_COUNT
};

#define DRAWING_COLUMNS                                                                            \
    "id, user_id, tutorial_id, original_key, thumbnail_key, created_at, updated_at"
#define GALLERY_ORDER "ORDER BY created_at DESC, id DESC"

/* Every value is a parameter; nothing is ever pasted into SQL text. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT 1",
    [ST_MIGRATION_APPLIED] = "SELECT 1 FROM schema_migrations WHERE version = ?1",
    [ST_MIGRATION_RECORD] = "INSERT INTO schema_migrations(version, applied_at) VALUES(?1, ?2)",
    [ST_USER_ENSURE] = "INSERT INTO users(id, created_at) VALUES(?1, ?2) "
                       "ON CONFLICT(id) DO NOTHING",
    [ST_USER_COUNTS] = "SELECT drawing_count, edited_count, tutorial_count FROM users "
                       "WHERE id = ?1",
    [ST_TUTORIAL_ADD] = "INSERT INTO tutorials(id, title, created_at) VALUES(?1, ?2, ?3)",
    [ST_TUTORIAL_EXISTS] = "SELECT 1 FROM tutorials WHERE id = ?1",
    [ST_TUTORIAL_LIST] = "SELECT id, title, created_at FROM tutorials ORDER BY created_at, id",
    [ST_DRAWING_INSERT] = "INSERT INTO drawings(" DRAWING_COLUMNS ") "
                          "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_DRAWING_GET] = "SELECT " DRAWING_COLUMNS " FROM drawings WHERE id = ?1 AND user_id = ?2",
    /* the page's ids come from the gallery index alone (it covers them), so a deep OFFSET
     * skips index entries, not table rows; then the page's rows by primary key */
    [ST_DRAWING_PAGE] = "SELECT d.id, d.user_id, d.tutorial_id, d.original_key, d.thumbnail_key, "
                        "d.created_at, d.updated_at "
                        "FROM (SELECT id FROM drawings WHERE user_id = ?1 " GALLERY_ORDER
                        " LIMIT ?2 OFFSET ?3) AS p JOIN drawings AS d ON d.id = p.id "
                        "ORDER BY d.created_at DESC, d.id DESC",
    [ST_DRAWING_DELETE] = "DELETE FROM drawings WHERE id = ?1 AND user_id = ?2",
    [ST_DRAWING_TOUCH] = "UPDATE drawings SET updated_at = ?1 WHERE id = ?2 AND user_id = ?3",
    [ST_EDIT_INSERT] = "INSERT INTO edits(drawing_id, image_key, thumbnail_key, prompt, source, "
                       "created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_EDITS_OF_DRAWING] = "SELECT drawing_id, image_key, thumbnail_key, prompt, source, "
                            "created_at FROM edits WHERE drawing_id = ?1 ORDER BY id",
    /* the page's edits in one query, in the page's order, so they attach in one pass */
    [ST_EDITS_OF_PAGE] =
        "SELECT e.drawing_id, e.image_key, e.thumbnail_key, e.prompt, "
        "e.source, e.created_at "
        "FROM (SELECT id, created_at FROM drawings WHERE user_id = ?1 " GALLERY_ORDER
        " LIMIT ?2 OFFSET ?3) AS p "
        "JOIN edits AS e ON e.drawing_id = p.id "
        "ORDER BY p.created_at DESC, p.id DESC, e.id",
    [ST_JOB_ADD] = "INSERT INTO jobs(kind, object_key, ref, run_at, created_at) "
                   "VALUES(?1, ?2, ?4, ?3, ?3)",
    /* one statement, run inside BEGIN IMMEDIATE: the write lock is taken before the
     * read, so two processes cannot both pick the same due job */
    [ST_JOB_CLAIM] = "UPDATE jobs SET lease_until = ?2 WHERE id = ("
                     "SELECT id FROM jobs WHERE run_at <= ?1 "
                     "AND (lease_until IS NULL OR lease_until <= ?1) "
                     "ORDER BY run_at, id LIMIT 1) "
                     "RETURNING id, kind, object_key, attempts, ref",
    [ST_JOB_DONE] = "DELETE FROM jobs WHERE id = ?1",
    [ST_JOB_RETRY] = "UPDATE jobs SET attempts = attempts + 1, run_at = ?2, lease_until = NULL, "
                     "last_error = ?3 WHERE id = ?1",
    [ST_KEYS_REFERENCED] = "SELECT original_key FROM drawings "
                           "UNION ALL SELECT thumbnail_key FROM drawings "
                           "WHERE thumbnail_key IS NOT NULL "
                           "UNION ALL SELECT image_key FROM edits "
                           "UNION ALL SELECT thumbnail_key FROM edits "
                           "WHERE thumbnail_key IS NOT NULL",
    [ST_DATA_ORIG_GET] = "SELECT original_key FROM drawings WHERE id = ?1 "
                         "AND substr(original_key, 1, 5) = 'data:'",
    [ST_DATA_EDIT_GET] = "SELECT image_key FROM edits WHERE drawing_id = ?1 "
                         "AND substr(image_key, 1, 5) = 'data:' ORDER BY id LIMIT 1",
    [ST_DATA_ORIG_SWAP] = "UPDATE drawings SET original_key = ?3 WHERE id = ?1 "
                          "AND original_key = ?2",
    [ST_DATA_EDIT_SWAP] = "UPDATE edits SET image_key = ?3 WHERE id = (SELECT id FROM edits "
                          "WHERE drawing_id = ?1 AND image_key = ?2 ORDER BY id LIMIT 1)",
};

/* ---- connections ------------------------------------------------------- */

struct db_sqlite;

struct conn {
    struct db_sqlite *owner;
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT]; /* prepared on first use */
    struct conn *prev, *next;      /* owner->conns, under owner->mu */
};

struct db_sqlite {
    struct db base; /* first: struct db * and struct db_sqlite * are interchangeable */
    char *path;
    pthread_key_t key; /* this thread's struct conn */
    bool have_key, have_mu;
    pthread_mutex_t mu; /* guards conns */
    struct conn *conns;
};

static struct db_sqlite *from_db(struct db *db)
{
    return (struct db_sqlite *)db;
}

/*
 * Maps a SQLite result code to ours and logs SQLite's message (which names tables
 * and columns, never bound values). Constraint failures are expected outcomes
 * (a duplicate id, an unknown tutorial) and are logged as warnings.
 */
static enum err fail(sqlite3 *db, int src, const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(src);
    enum err e;

    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
        e = ERR_UNAVAILABLE;
        break;
    case SQLITE_CONSTRAINT:
        e = src == SQLITE_CONSTRAINT_FOREIGNKEY ? ERR_NOT_FOUND : ERR_CONFLICT;
        break;
    case SQLITE_NOMEM:
        e = ERR_NOMEM;
        break;
    default:
        e = ERR_INTERNAL;
        break;
    }
    if (e == ERR_CONFLICT || e == ERR_NOT_FOUND)
        log_warn("sqlite: %s: %s", what, msg);
    else
        log_error("sqlite: %s: %s (code %d)", what, msg, src);
    return e;
}

static void conn_close(struct conn *c)
{
    int src;

    if (!c)
        return;
    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmts[i]); /* NULL is a no-op */
    src = sqlite3_close(c->db);        /* NULL is a no-op */
    if (src != SQLITE_OK)
        log_error("sqlite: close: %s", sqlite3_errstr(src));
    free(c);
}

/* The thread that owned c is exiting. */
static void conn_destructor(void *p)
{
    struct conn *c = p;
    struct db_sqlite *s = c->owner;

    /* off the list first, so close() can never see it again: no double close */
    pthread_mutex_lock(&s->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->mu);
    conn_close(c);
}

/*
 * Switches the database to WAL (a persistent setting, so usually a no-op). Turning
 * WAL on needs an exclusive lock, and SQLite answers SQLITE_BUSY at once, without
 * its busy handler, while another connection (or process) holds one; so this
 * retries for up to the busy timeout. The database may also refuse WAL (e.g. a
 * filesystem without shared memory), which is worth a warning, not a failure.
 */
static enum err set_wal(struct conn *c)
{
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = WAL_RETRY_MS * 1000000L};
    sqlite3_stmt *st = NULL;
    const unsigned char *mode;
    enum err rc = ERR_OK;
    int src;

    src = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = fail(c->db, src, "journal_mode");
        goto out;
    }
    for (int waited = 0;; waited += WAL_RETRY_MS) {
        src = sqlite3_step(st);
        if ((src & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
            break;
        sqlite3_reset(st);
        nanosleep(&pause, NULL);
    }
    if (src != SQLITE_ROW) {
        rc = fail(c->db, src, "journal_mode");
        goto out;
    }
    mode = sqlite3_column_text(st, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0)
        log_warn("sqlite: journal_mode is %s, not wal", mode ? (const char *)mode : "unknown");
out:
    sqlite3_finalize(st);
    return rc;
}

static enum err conn_open(struct db_sqlite *s, struct conn **out)
{
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    struct conn *c = calloc(1, sizeof(*c));
    enum err rc = ERR_NOMEM;
    int src;

    if (!c)
        goto out;
    c->owner = s;
    src = sqlite3_open_v2(s->path, &c->db, flags, NULL);
    if (src != SQLITE_OK) {
        rc = fail(c->db, src, "open");
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    rc = set_wal(c);
    if (rc != ERR_OK)
        goto out;
    /*
     * WAL with synchronous=NORMAL: a commit is durable against a crash of this
     * process (the WAL is written before COMMIT returns); only a power loss or OS
     * crash can roll back the last few commits, never corrupt the database.
     */
    src =
        sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = fail(c->db, src, "pragma");
        goto out;
    }
    *out = c;
    c = NULL;
    rc = ERR_OK;
out:
    conn_close(c);
    return rc;
}

/* This thread's connection, opened on first use. */
static enum err conn_get(struct db *db, struct conn **out)
{
    struct db_sqlite *s = from_db(db);
    struct conn *c = pthread_getspecific(s->key);
    enum err rc = ERR_OK;

    if (c)
        goto out;
    rc = conn_open(s, &c);
    if (rc != ERR_OK)
        goto out;
    if (pthread_setspecific(s->key, c) != 0) {
        log_error("sqlite: cannot store the thread's connection");
        conn_close(c);
        rc = ERR_NOMEM;
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
out:
    if (rc == ERR_OK)
        *out = c;
    return rc;
}

/* ---- statement helpers ------------------------------------------------- */

/* The cached statement, prepared on first use. Release it with stmt_release(). */
static enum err stmt_use(struct conn *c, enum stmt which, sqlite3_stmt **out)
{
    int src;

    if (!c->stmts[which]) {
        src = sqlite3_prepare_v3(c->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                 &c->stmts[which], NULL);
        if (src != SQLITE_OK) {
            c->stmts[which] = NULL;
            return fail(c->db, src, "prepare");
        }
    }
    *out = c->stmts[which];
    return ERR_OK;
}

/* Makes the statement ready for the next use and drops references to borrowed
 * strings. Accepts NULL. */
static void stmt_release(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* The strings are borrowed until the statement is released (SQLITE_STATIC). */
static enum err bind_text(struct conn *c, sqlite3_stmt *st, int i, const char *v)
{
    int src = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);

    return src == SQLITE_OK ? ERR_OK : fail(c->db, src, "bind");
}

static enum err bind_int(struct conn *c, sqlite3_stmt *st, int i, int64_t v)
{
    int src = sqlite3_bind_int64(st, i, v);

    return src == SQLITE_OK ? ERR_OK : fail(c->db, src, "bind");
}

/* Steps a statement that returns no rows. */
static enum err step_done(struct conn *c, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);

    return src == SQLITE_DONE ? ERR_OK : fail(c->db, src, what);
}

/* Runs a statement without parameters or rows (BEGIN, COMMIT, ...). */
static enum err run(struct conn *c, enum stmt which, const char *what)
{
    sqlite3_stmt *st = NULL;
    enum err rc = stmt_use(c, which, &st);

    if (rc == ERR_OK)
        rc = step_done(c, st, what);
    stmt_release(st);
    return rc;
}

/* Ends a failed transaction, unless SQLite already rolled it back. */
static void rollback(struct conn *c)
{
    if (sqlite3_get_autocommit(c->db))
        return;
    (void)run(c, ST_ROLLBACK, "rollback");
}

/* A copy of a text column in the arena; SQL NULL gives NULL. */
static enum err col_text(sqlite3_stmt *st, int i, struct arena *a, char **out)
{
    const unsigned char *t;
    int n;

    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        *out = NULL;
        return ERR_OK;
    }
    t = sqlite3_column_text(st, i);
    n = sqlite3_column_bytes(st, i);
    if (!t || n < 0)
        return ERR_NOMEM;
    *out = arena_strndup(a, (const char *)t, (size_t)n);
    return *out ? ERR_OK : ERR_NOMEM;
}

/* A UUID column into a fixed buffer, refusing anything of the wrong length. */
static enum err col_uuid(sqlite3_stmt *st, int i, char out[ID_UUID_LEN])
{
    const unsigned char *t = sqlite3_column_text(st, i);

    if (!t || sqlite3_column_bytes(st, i) != ID_UUID_LEN - 1) {
        log_error("sqlite: a stored id is not a UUID");
        return ERR_INTERNAL;
    }
    memcpy(out, t, ID_UUID_LEN - 1);
    out[ID_UUID_LEN - 1] = '\0';
    return ERR_OK;
}

/* ---- growable arrays --------------------------------------------------- */

/* A malloc'd array of unknown final length, copied into an arena when done. */
struct vec {
    unsigned char *items;
    size_t n, cap, size;
};

/* A zeroed new last element, or NULL when out of memory. */
static void *vec_push(struct vec *v)
{
    unsigned char *p;

    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        if (cap > SIZE_MAX / v->size)
            return NULL;
        p = realloc(v->items, cap * v->size);
        if (!p)
            return NULL;
        v->items = p;
        v->cap = cap;
    }
    p = v->items + v->n * v->size;
    memset(p, 0, v->size);
    v->n++;
    return p;
}

/* The elements copied into the arena (NULL when there are none). */
static enum err vec_to_arena(const struct vec *v, struct arena *a, void **out)
{
    void *p = NULL;

    if (v->n > 0) {
        p = arena_alloc(a, v->n * v->size); /* n * size fits: it was allocated */
        if (!p)
            return ERR_NOMEM;
        memcpy(p, v->items, v->n * v->size);
    }
    *out = p;
    return ERR_OK;
}

static void vec_free(struct vec *v)
{
    free(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}

/* ---- rows -------------------------------------------------------------- */

/* A row of DRAWING_COLUMNS. */
static enum err read_drawing(sqlite3_stmt *st, struct arena *a, struct drawing *d)
{
    enum err rc = col_uuid(st, 0, d->id);

    if (rc == ERR_OK)
        rc = col_uuid(st, 1, d->user_id);
    if (rc == ERR_OK)
        rc = col_text(st, 2, a, &d->tutorial_id);
    if (rc == ERR_OK)
        rc = col_text(st, 3, a, &d->original_key);
    if (rc == ERR_OK)
        rc = col_text(st, 4, a, &d->thumbnail_key);
    d->created_at = sqlite3_column_int64(st, 5);
    d->updated_at = sqlite3_column_int64(st, 6);
    d->edits = NULL;
    d->n_edits = 0;
    return rc;
}

struct owned_edit {
    struct edit e;
    size_t drawing; /* index into the drawings being filled */
};

/*
 * Steps st, whose rows are (drawing_id, image_key, thumbnail_key, prompt, source,
 * created_at) grouped by drawing in the same order as ds, and gives each drawing
 * its edits. Does not release st.
 */
static enum err read_edits(struct conn *c, sqlite3_stmt *st, struct arena *a, struct drawing *ds,
                           size_t n)
{
    struct vec v = {.size = sizeof(struct owned_edit)};
    size_t j = 0;
    enum err rc = ERR_OK;

    for (;;) {
        struct owned_edit *oe;
        const unsigned char *did;
        int src = sqlite3_step(st);

        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = fail(c->db, src, "read edits");
            goto out;
        }
        did = sqlite3_column_text(st, 0);
        while (did && j < n && strcmp(ds[j].id, (const char *)did) != 0)
            j++;
        if (!did || j == n) {
            log_error("sqlite: an edit does not belong to the drawings read");
            rc = ERR_INTERNAL;
            goto out;
        }
        oe = vec_push(&v);
        if (!oe) {
            rc = ERR_NOMEM;
            goto out;
        }
        oe->drawing = j;
        rc = col_text(st, 1, a, &oe->e.image_key);
        if (rc == ERR_OK)
            rc = col_text(st, 2, a, &oe->e.thumbnail_key);
        if (rc == ERR_OK)
            rc = col_text(st, 3, a, &oe->e.prompt);
        if (rc == ERR_OK)
            rc = col_text(st, 4, a, &oe->e.source);
        if (rc != ERR_OK)
            goto out;
        oe->e.created_at = sqlite3_column_int64(st, 5);
    }

    /* the rows are grouped by drawing: hand each group its own arena array */
    for (size_t i = 0; i < v.n;) {
        const struct owned_edit *all = (const struct owned_edit *)v.items;
        struct drawing *d = &ds[all[i].drawing];
        size_t k = i;

        while (k < v.n && all[k].drawing == all[i].drawing)
            k++;
        d->edits = arena_alloc(a, (k - i) * sizeof(struct edit));
        if (!d->edits) {
            rc = ERR_NOMEM;
            goto out;
        }
        for (size_t m = i; m < k; m++)
            d->edits[m - i] = all[m].e;
        d->n_edits = k - i;
        i = k;
    }
out:
    vec_free(&v);
    return rc;
}

/* user_id's drawing id with its edits, inside the caller's transaction. */
static enum err load_drawing(struct conn *c, const char *user_id, const char *id, struct arena *a,
                             struct drawing *out)
{
    sqlite3_stmt *st = NULL;
    struct drawing d = {0};
    enum err rc;
    int src;

    rc = stmt_use(c, ST_DRAWING_GET, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, user_id);
    if (rc != ERR_OK)
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = ERR_NOT_FOUND;
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = fail(c->db, src, "read drawing");
        goto out;
    }
    rc = read_drawing(st, a, &d);
    if (rc != ERR_OK)
        goto out;
    stmt_release(st);
    st = NULL;

    rc = stmt_use(c, ST_EDITS_OF_DRAWING, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, id);
    if (rc == ERR_OK)
        rc = read_edits(c, st, a, &d, 1);
    if (rc == ERR_OK)
        *out = d;
out:
    stmt_release(st);
    return rc;
}

static enum err insert_edit(struct conn *c, const char *drawing_id, const struct edit *e)
{
    sqlite3_stmt *st = NULL;
    enum err rc = stmt_use(c, ST_EDIT_INSERT, &st);

    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, drawing_id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, e->image_key);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 3, e->thumbnail_key);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 4, e->prompt);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 5, e->source);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 6, e->created_at);
    if (rc == ERR_OK)
        rc = step_done(c, st, "insert edit");
    stmt_release(st);
    return rc;
}

static enum err user_upsert(struct conn *c, const char *user_id)
{
    sqlite3_stmt *st = NULL;
    enum err rc = stmt_use(c, ST_USER_ENSURE, &st);

    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, user_id);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 2, time_now_ms());
    if (rc == ERR_OK)
        rc = step_done(c, st, "ensure user");
    stmt_release(st);
    return rc;
}

/* The user's counters; zeros if the user has no row yet. */
static enum err user_counts(struct conn *c, const char *user_id, struct drawing_stats *out)
{
    sqlite3_stmt *st = NULL;
    struct drawing_stats s = {0};
    enum err rc;
    int src;

    rc = stmt_use(c, ST_USER_COUNTS, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, user_id);
    if (rc != ERR_OK)
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        s.total_drawings = sqlite3_column_int64(st, 0);
        s.edited_drawings = sqlite3_column_int64(st, 1);
        s.tutorial_drawings = sqlite3_column_int64(st, 2);
    } else if (src != SQLITE_DONE) {
        rc = fail(c->db, src, "read counters");
        goto out;
    }
    *out = s;
out:
    stmt_release(st);
    return rc;
}

/* ---- open, close, migrate ---------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* mkdir -p of the directory that will hold path. */
static enum err make_parent_dirs(const char *path)
{
    char *p = strdup(path);
    enum err rc = ERR_NOMEM;

    if (!p)
        goto out;
    rc = ERR_OK;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0) {
            int e = errno;
            if (e != EEXIST && !is_dir(p)) {
                log_error("sqlite: cannot create directory %s: %s", p, strerror(e));
                rc = ERR_UNAVAILABLE;
                goto out;
            }
        }
        *s = '/';
    }
out:
    free(p);
    return rc;
}

static void sqlite_close(struct db *db)
{
    struct db_sqlite *s = from_db(db);
    struct conn *c, *next;

    if (!s)
        return;
    /* deleting the key first means no destructor can run for it from now on */
    if (s->have_key)
        pthread_key_delete(s->key);
    if (s->have_mu)
        pthread_mutex_lock(&s->mu);
    c = s->conns;
    s->conns = NULL;
    if (s->have_mu)
        pthread_mutex_unlock(&s->mu);
    for (; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    if (s->have_mu)
        pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

static enum err sqlite_open(const struct config *cfg, struct db **out)
{
    struct db_sqlite *s = NULL;
    struct conn *c;
    enum err rc = ERR_INVALID;

    if (!cfg->sqlite_path || !cfg->sqlite_path[0]) {
        log_error("sqlite: no database path configured");
        goto out;
    }
    if (!sqlite3_threadsafe()) {
        log_error("sqlite: the library was built without thread support");
        rc = ERR_INTERNAL;
        goto out;
    }
    rc = make_parent_dirs(cfg->sqlite_path);
    if (rc != ERR_OK)
        goto out;
    rc = ERR_NOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    s->base.ops = &db_sqlite_ops;
    s->path = strdup(cfg->sqlite_path);
    if (!s->path)
        goto out;
    rc = ERR_INTERNAL;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto out;
    s->have_mu = true;
    if (pthread_key_create(&s->key, conn_destructor) != 0)
        goto out;
    s->have_key = true;
    /* open this thread's connection now, so a bad path fails at start-up */
    rc = conn_get(&s->base, &c);
    if (rc != ERR_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s)
        sqlite_close(&s->base);
    return rc;
}

/* Applies migration version (1-based) unless it already is; one transaction each. */
static enum err migrate_one(struct conn *c, int64_t version, const char *sql)
{
    sqlite3_stmt *st = NULL;
    bool in_tx = false;
    enum err rc;
    int src;

    /* IMMEDIATE: a second process migrating at the same time waits here, then
     * finds the version row and skips */
    rc = run(c, ST_BEGIN_IMMEDIATE, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = stmt_use(c, ST_MIGRATION_APPLIED, &st);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 1, version);
    if (rc != ERR_OK)
        goto out;
    src = sqlite3_step(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = fail(c->db, src, "read migrations");
        goto out;
    }
    stmt_release(st);
    st = NULL;
    if (src == SQLITE_DONE) {
        src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = fail(c->db, src, "migrate");
            goto out;
        }
        rc = stmt_use(c, ST_MIGRATION_RECORD, &st);
        if (rc == ERR_OK)
            rc = bind_int(c, st, 1, version);
        if (rc == ERR_OK)
            rc = bind_int(c, st, 2, time_now_ms());
        if (rc == ERR_OK)
            rc = step_done(c, st, "record migration");
        if (rc != ERR_OK)
            goto out;
        log_info("sqlite: applied migration %lld", (long long)version);
    }
    rc = run(c, ST_COMMIT, "commit");
    if (rc == ERR_OK)
        in_tx = false;
out:
    stmt_release(st);
    if (in_tx)
        rollback(c);
    return rc;
}

static enum err sqlite_migrate(struct db *db)
{
    static const char create[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                 "  version INTEGER PRIMARY KEY,"
                                 "  applied_at INTEGER NOT NULL"
                                 ")";
    struct conn *c;
    enum err rc = conn_get(db, &c);
    int src;

    if (rc != ERR_OK)
        return rc;
    src = sqlite3_exec(c->db, create, NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return fail(c->db, src, "create schema_migrations");
    for (size_t i = 0; i < N_MIGRATIONS && rc == ERR_OK; i++)
        rc = migrate_one(c, (int64_t)i + 1, migrations[i]);
    return rc;
}

static enum err sqlite_ping(struct db *db)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);
    int src;

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_PING, &st);
    if (rc != ERR_OK)
        goto out;
    src = sqlite3_step(st);
    if (src != SQLITE_ROW)
        rc = fail(c->db, src, "ping");
out:
    stmt_release(st);
    return rc;
}

/* ---- users and tutorials ----------------------------------------------- */

static enum err sqlite_user_ensure(struct db *db, const char *user_id)
{
    struct conn *c;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = user_upsert(c, user_id);
    return rc;
}

static enum err sqlite_tutorial_add(struct db *db, const struct tutorial *t)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_TUTORIAL_ADD, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, t->id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, t->title);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 3, t->created_at);
    if (rc == ERR_OK)
        rc = step_done(c, st, "add tutorial");
    stmt_release(st);
    return rc;
}

static enum err sqlite_tutorial_exists(struct db *db, const char *id)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);
    int src;

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_TUTORIAL_EXISTS, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, id);
    if (rc != ERR_OK)
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        rc = ERR_NOT_FOUND;
    else if (src != SQLITE_ROW)
        rc = fail(c->db, src, "find tutorial");
out:
    stmt_release(st);
    return rc;
}

static enum err sqlite_tutorial_list(struct db *db, struct arena *a, struct tutorial **out,
                                     size_t *n)
{
    struct vec v = {.size = sizeof(struct tutorial)};
    sqlite3_stmt *st = NULL;
    struct conn *c;
    void *list;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_TUTORIAL_LIST, &st);
    if (rc != ERR_OK)
        goto out;
    for (;;) {
        struct tutorial *t;
        int src = sqlite3_step(st);

        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = fail(c->db, src, "list tutorials");
            goto out;
        }
        t = vec_push(&v);
        if (!t) {
            rc = ERR_NOMEM;
            goto out;
        }
        rc = col_uuid(st, 0, t->id);
        if (rc == ERR_OK)
            rc = col_text(st, 1, a, &t->title);
        if (rc != ERR_OK)
            goto out;
        t->created_at = sqlite3_column_int64(st, 2);
    }
    rc = vec_to_arena(&v, a, &list);
    if (rc != ERR_OK)
        goto out;
    *out = list;
    *n = v.n;
out:
    stmt_release(st);
    vec_free(&v);
    return rc;
}

/* ---- drawings ---------------------------------------------------------- */

static enum err sqlite_drawing_insert(struct db *db, const struct drawing *d)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    bool in_tx = false;
    enum err rc = conn_get(db, &c);

    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_BEGIN_IMMEDIATE, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    /* the owner's row carries the counters the triggers update */
    rc = user_upsert(c, d->user_id);
    if (rc == ERR_OK)
        rc = stmt_use(c, ST_DRAWING_INSERT, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, d->id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, d->user_id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 3, d->tutorial_id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 4, d->original_key);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 5, d->thumbnail_key);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 6, d->created_at);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 7, d->updated_at);
    if (rc == ERR_OK)
        rc = step_done(c, st, "insert drawing"); /* unknown tutorial: ERR_NOT_FOUND */
    if (rc != ERR_OK)
        goto out;
    for (size_t i = 0; i < d->n_edits && rc == ERR_OK; i++)
        rc = insert_edit(c, d->id, &d->edits[i]);
    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_COMMIT, "commit");
    if (rc == ERR_OK)
        in_tx = false;
out:
    stmt_release(st);
    if (in_tx)
        rollback(c);
    return rc;
}

static enum err sqlite_drawing_get(struct db *db, const char *user_id, const char *id,
                                   struct arena *a, struct drawing *out)
{
    struct drawing d;
    struct conn *c;
    bool in_tx = false;
    enum err rc = conn_get(db, &c);

    if (rc != ERR_OK)
        goto out;
    /* one snapshot for the drawing and its edits */
    rc = run(c, ST_BEGIN, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = load_drawing(c, user_id, id, a, &d);
    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_COMMIT, "commit");
    if (rc != ERR_OK)
        goto out;
    in_tx = false;
    *out = d;
out:
    if (in_tx)
        rollback(c);
    return rc;
}

/* One page of drawings in gallery order, copied into the arena. */
static enum err read_page(struct conn *c, const char *user_id, int64_t offset, int64_t limit,
                          struct arena *a, struct drawing **out, size_t *n)
{
    struct vec v = {.size = sizeof(struct drawing)};
    sqlite3_stmt *st = NULL;
    void *page;
    enum err rc = stmt_use(c, ST_DRAWING_PAGE, &st);

    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, user_id);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 2, limit);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 3, offset);
    if (rc != ERR_OK)
        goto out;
    for (;;) {
        struct drawing *d;
        int src = sqlite3_step(st);

        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = fail(c->db, src, "list drawings");
            goto out;
        }
        d = vec_push(&v);
        if (!d) {
            rc = ERR_NOMEM;
            goto out;
        }
        rc = read_drawing(st, a, d);
        if (rc != ERR_OK)
            goto out;
    }
    rc = vec_to_arena(&v, a, &page);
    if (rc != ERR_OK)
        goto out;
    *out = page;
    *n = v.n;
out:
    stmt_release(st);
    vec_free(&v);
    return rc;
}

/* The edits of every drawing on the page, in one query. */
static enum err read_page_edits(struct conn *c, const char *user_id, int64_t offset, int64_t limit,
                                struct arena *a, struct drawing *ds, size_t n)
{
    sqlite3_stmt *st = NULL;
    enum err rc = stmt_use(c, ST_EDITS_OF_PAGE, &st);

    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, user_id);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 2, limit);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 3, offset);
    if (rc == ERR_OK)
        rc = read_edits(c, st, a, ds, n);
    stmt_release(st);
    return rc;
}

static enum err sqlite_drawing_list(struct db *db, const char *user_id, int64_t offset,
                                    int64_t limit, struct arena *a, struct drawing **out, size_t *n,
                                    int64_t *total)
{
    struct drawing_stats counts;
    struct drawing *page = NULL;
    size_t n_page = 0;
    struct conn *c;
    bool in_tx = false;
    enum err rc = conn_get(db, &c);

    if (rc != ERR_OK)
        goto out;
    /* one snapshot for the total, the page and the page's edits */
    rc = run(c, ST_BEGIN, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = user_counts(c, user_id, &counts);
    if (rc == ERR_OK)
        rc = read_page(c, user_id, offset, limit, a, &page, &n_page);
    if (rc == ERR_OK && n_page > 0)
        rc = read_page_edits(c, user_id, offset, limit, a, page, n_page);
    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_COMMIT, "commit");
    if (rc != ERR_OK)
        goto out;
    in_tx = false;
    *out = page;
    *n = n_page;
    *total = counts.total_drawings;
out:
    if (in_tx)
        rollback(c);
    return rc;
}

static enum err sqlite_drawing_delete(struct db *db, const char *user_id, const char *id,
                                      struct arena *a, struct drawing *out)
{
    sqlite3_stmt *st = NULL;
    struct drawing d;
    struct conn *c;
    bool in_tx = false;
    enum err rc = conn_get(db, &c);

    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_BEGIN_IMMEDIATE, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = load_drawing(c, user_id, id, a, &d); /* not theirs: ERR_NOT_FOUND */
    if (rc == ERR_OK)
        rc = stmt_use(c, ST_DRAWING_DELETE, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, user_id);
    if (rc == ERR_OK)
        rc = step_done(c, st, "delete drawing"); /* edits cascade; triggers count */
    if (rc != ERR_OK)
        goto out;
    if (sqlite3_changes(c->db) != 1) {
        log_error("sqlite: delete drawing: the row read was not deleted");
        rc = ERR_INTERNAL;
        goto out;
    }
    rc = run(c, ST_COMMIT, "commit");
    if (rc != ERR_OK)
        goto out;
    in_tx = false;
    *out = d;
out:
    stmt_release(st);
    if (in_tx)
        rollback(c);
    return rc;
}

/* updated_at becomes the edit's created_at. */
static enum err sqlite_edit_append(struct db *db, const char *user_id, const char *drawing_id,
                                   const struct edit *e)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    bool in_tx = false;
    enum err rc = conn_get(db, &c);

    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_BEGIN_IMMEDIATE, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = stmt_use(c, ST_DRAWING_TOUCH, &st);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 1, e->created_at);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, drawing_id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 3, user_id);
    if (rc == ERR_OK)
        rc = step_done(c, st, "touch drawing");
    if (rc != ERR_OK)
        goto out;
    if (sqlite3_changes(c->db) == 0) {
        rc = ERR_NOT_FOUND; /* absent, or not theirs */
        goto out;
    }
    stmt_release(st);
    st = NULL;
    rc = insert_edit(c, drawing_id, e); /* the first edit counts the drawing as edited */
    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_COMMIT, "commit");
    if (rc == ERR_OK)
        in_tx = false;
out:
    stmt_release(st);
    if (in_tx)
        rollback(c);
    return rc;
}

static enum err sqlite_stats(struct db *db, const char *user_id, struct drawing_stats *out)
{
    struct conn *c;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = user_counts(c, user_id, out);
    return rc;
}

/* ---- jobs and gc ------------------------------------------------------- */

static enum err sqlite_job_add(struct db *db, const char *kind, const char *key, const char *ref,
                               int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_JOB_ADD, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, kind);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, key);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 3, now_ms);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 4, ref);
    if (rc == ERR_OK)
        rc = step_done(c, st, "add job");
    stmt_release(st);
    return rc;
}

static enum err sqlite_job_claim(struct db *db, int64_t now_ms, int64_t lease_ms, struct arena *a,
                                 struct db_job *out)
{
    sqlite3_stmt *st = NULL;
    struct db_job j = {0};
    struct conn *c;
    bool in_tx = false, found = false;
    enum err rc = conn_get(db, &c);
    int src;

    if (rc != ERR_OK)
        goto out;
    rc = run(c, ST_BEGIN_IMMEDIATE, "begin");
    if (rc != ERR_OK)
        goto out;
    in_tx = true;
    rc = stmt_use(c, ST_JOB_CLAIM, &st);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 1, now_ms);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 2, now_ms + lease_ms);
    if (rc != ERR_OK)
        goto out;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        j.id = sqlite3_column_int64(st, 0);
        j.attempts = sqlite3_column_int64(st, 3);
        rc = col_text(st, 1, a, &j.kind);
        if (rc == ERR_OK)
            rc = col_text(st, 2, a, &j.object_key);
        if (rc == ERR_OK)
            rc = col_text(st, 4, a, &j.ref);
        if (rc != ERR_OK)
            goto out;
        found = true;
    }
    if (src != SQLITE_DONE) {
        rc = fail(c->db, src, "claim job");
        goto out;
    }
    stmt_release(st);
    st = NULL;
    rc = run(c, ST_COMMIT, "commit");
    if (rc != ERR_OK)
        goto out;
    in_tx = false;
    if (!found || !j.kind || !j.object_key) {
        rc = ERR_NOT_FOUND;
        goto out;
    }
    *out = j;
out:
    stmt_release(st);
    if (in_tx)
        rollback(c);
    return rc;
}

static enum err sqlite_job_done(struct db *db, int64_t id)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_JOB_DONE, &st);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 1, id);
    if (rc == ERR_OK)
        rc = step_done(c, st, "finish job");
    if (rc == ERR_OK && sqlite3_changes(c->db) != 1)
        rc = ERR_NOT_FOUND;
    stmt_release(st);
    return rc;
}

static enum err sqlite_job_retry(struct db *db, int64_t id, int64_t next_run_at, const char *error)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_JOB_RETRY, &st);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 1, id);
    if (rc == ERR_OK)
        rc = bind_int(c, st, 2, next_run_at);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 3, error);
    if (rc == ERR_OK)
        rc = step_done(c, st, "retry job");
    if (rc == ERR_OK && sqlite3_changes(c->db) != 1)
        rc = ERR_NOT_FOUND;
    stmt_release(st);
    return rc;
}

static enum err sqlite_keys_referenced(struct db *db, db_key_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);
    int src = SQLITE_DONE;

    if (rc == ERR_OK)
        rc = stmt_use(c, ST_KEYS_REFERENCED, &st);
    if (rc != ERR_OK)
        goto out;
    while (rc == ERR_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);

        if (t)
            rc = fn(ctx, (const char *)t);
    }
    if (rc == ERR_OK && src != SQLITE_DONE)
        rc = fail(c->db, src, "list referenced keys");
out:
    stmt_release(st);
    return rc;
}

static enum err sqlite_data_url_get(struct db *db, const char *drawing_id, bool original,
                                    struct arena *a, char **out)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);
    int src;

    if (rc == ERR_OK)
        rc = stmt_use(c, original ? ST_DATA_ORIG_GET : ST_DATA_EDIT_GET, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, drawing_id);
    if (rc != ERR_OK)
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = col_text(st, 0, a, out);
    else if (src == SQLITE_DONE)
        rc = ERR_NOT_FOUND;
    else
        rc = fail(c->db, src, "read data URL");
out:
    stmt_release(st);
    return rc;
}

static enum err sqlite_data_url_swap(struct db *db, const char *drawing_id, bool original,
                                     const char *data_url, const char *key)
{
    sqlite3_stmt *st = NULL;
    struct conn *c;
    enum err rc = conn_get(db, &c);

    if (rc == ERR_OK)
        rc = stmt_use(c, original ? ST_DATA_ORIG_SWAP : ST_DATA_EDIT_SWAP, &st);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 1, drawing_id);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 2, data_url);
    if (rc == ERR_OK)
        rc = bind_text(c, st, 3, key);
    if (rc == ERR_OK)
        rc = step_done(c, st, "swap data URL");
    if (rc == ERR_OK && sqlite3_changes(c->db) != 1)
        rc = ERR_NOT_FOUND;
    stmt_release(st);
    return rc;
}

const struct db_ops db_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .migrate = sqlite_migrate,
    .ping = sqlite_ping,
    .user_ensure = sqlite_user_ensure,
    .tutorial_add = sqlite_tutorial_add,
    .tutorial_exists = sqlite_tutorial_exists,
    .tutorial_list = sqlite_tutorial_list,
    .drawing_insert = sqlite_drawing_insert,
    .drawing_get = sqlite_drawing_get,
    .drawing_list = sqlite_drawing_list,
    .drawing_delete = sqlite_drawing_delete,
    .edit_append = sqlite_edit_append,
    .stats = sqlite_stats,
    .job_add = sqlite_job_add,
    .job_claim = sqlite_job_claim,
    .job_done = sqlite_job_done,
    .job_retry = sqlite_job_retry,
    .keys_referenced = sqlite_keys_referenced,
    .data_url_get = sqlite_data_url_get,
    .data_url_swap = sqlite_data_url_swap,
};
