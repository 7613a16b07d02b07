/*
 * db.c - every database operation, written once over the driver interface
 * (driver.h) with the statements of the query table (sql.h): arguments checked
 * once, transactions, rows read into records. Also the backend name table and
 * the set of users known to exist behind db_user_ensure.
 *
 * Owns that set (util/idset, allocated by db_open, freed by db_close). An operation
 * borrows one connection from the driver for its duration and gives it back,
 * rolling back a transaction it left open; the cache is guarded by its own mutex,
 * so every function here is safe from any thread, as db.h promises.
 */
#include "db/db.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "db/driver.h"
#include "metrics.h"
#include "util/idset.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "util/vcache.h"
#include "util/words.h"

#define DB_LIST_MAX 1000
#define JOB_ERROR_MAX 1000
/* pg_advisory_xact_lock key of the migrations: "NovaDraw" in ASCII */
#define MIGRATION_LOCK_KEY 0x4e6f766144726177LL

static const struct db_driver *const drivers[] = {
    [DB_SQLITE] = &db_sqlite_driver,
    [DB_POSTGRES] = &db_postgres_driver,
};

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

/* ---- statements and columns -------------------------------------------- */

#define NARGS(a) (sizeof(a) / sizeof((a)[0]))

/* Runs a statement that returns no rows; *changed (may be NULL) gets the rows it changed. */
static enum err run(struct db *db, struct db_conn *c, enum sql_query q, const struct db_arg *args,
                    size_t n, int64_t *changed)
{
    enum err rc = db->drv->exec(c, q, args, n);

    if (rc == ERR_OK && changed)
        *changed = db->drv->changes(c);
    db->drv->finish(c);
    return rc;
}

/* Runs a statement and steps to its first row, left open for reading (the caller
 * finishes or releases c): ERR_NOT_FOUND when there is none. */
static enum err first_row(struct db *db, struct db_conn *c, enum sql_query q,
                          const struct db_arg *args, size_t n)
{
    enum err rc = db->drv->exec(c, q, args, n);

    if (rc == ERR_OK)
        rc = db->drv->step(c);
    return rc;
}

/* first_row() on a connection of its own. *c gets the connection, or NULL when none
 * could be had, whatever the result: the caller reads the row, then releases *c. */
static enum err first_row_alone(struct db *db, enum sql_query q, const struct db_arg *args,
                                size_t n, struct db_conn **c)
{
    enum err rc = db->drv->acquire(db, c);

    if (rc == ERR_OK)
        rc = first_row(db, *c, q, args, n);
    return rc;
}

/* The first column of the first row of q as an integer: ERR_NOT_FOUND when no row. */
static enum err one_i64(struct db *db, enum sql_query q, const struct db_arg *args, size_t n,
                        int64_t *out)
{
    struct db_conn *c = NULL;
    enum err rc = first_row_alone(db, q, args, n, &c);

    if (rc == ERR_OK)
        rc = db->drv->i64(c, 0, out);
    db->drv->release(db, c);
    return rc;
}

static enum err begin(struct db *db, struct db_conn *c, bool write)
{
    return run(db, c, write ? Q_BEGIN_WRITE : Q_BEGIN, NULL, 0, NULL);
}

/* A connection of its own with a write transaction begun on it. *c gets the
 * connection, or NULL when none could be had, whatever the result: the caller
 * releases it (which rolls back a transaction left open). */
static enum err write_transaction(struct db *db, struct db_conn **c)
{
    enum err rc = db->drv->acquire(db, c);

    if (rc == ERR_OK)
        rc = begin(db, *c, true);
    return rc;
}

static enum err commit(struct db *db, struct db_conn *c)
{
    return run(db, c, Q_COMMIT, NULL, 0, NULL);
}

static bool is_null(struct db *db, struct db_conn *c, int col)
{
    size_t len;

    return db->drv->bytes(c, col, &len) == NULL;
}

/* A copy of a text column in the arena; SQL NULL gives NULL. */
static enum err col_text(struct db *db, struct db_conn *c, int col, struct arena *a, char **out)
{
    size_t len = 0;
    const char *t = db->drv->bytes(c, col, &len);

    *out = t ? arena_strndup(a, t, len) : NULL;
    return !t || *out ? ERR_OK : ERR_NOMEM;
}

/* A UUID column into a fixed buffer, refusing anything of the wrong length. */
static enum err col_uuid(struct db *db, struct db_conn *c, int col, char out[ID_UUID_LEN])
{
    size_t len = 0;
    const char *t = db->drv->bytes(c, col, &len);

    if (!t || len != ID_UUID_LEN - 1) {
        log_error("db: a stored id is not a UUID");
        return ERR_INTERNAL;
    }
    memcpy(out, t, ID_UUID_LEN - 1);
    out[ID_UUID_LEN - 1] = '\0';
    return ERR_OK;
}

static enum err col_bool(struct db *db, struct db_conn *c, int col, bool *out)
{
    int64_t v = 0;
    enum err rc = db->drv->i64(c, col, &v);

    *out = v != 0;
    return rc;
}

/* ---- rows -------------------------------------------------------------- */

/* How a record's fields are laid out in a row: one entry per column, in order. */
enum col_type { COL_UUID, COL_TEXT, COL_I64, COL_BOOL };

struct col {
    enum col_type type;
    size_t offset; /* of the field in the record */
};

#define COL(t, rec, field)                                                                         \
    {                                                                                              \
        t, offsetof(struct rec, field)                                                             \
    }

/* DRAWING_COLS and EDIT_COLS (queries.inc), and a tutorial row. */
/* clang-format off */
static const struct col drawing_cols[] = {
    COL(COL_UUID, drawing, id), COL(COL_UUID, drawing, user_id),
    COL(COL_TEXT, drawing, tutorial_id), COL(COL_TEXT, drawing, original_key),
    COL(COL_TEXT, drawing, thumbnail_key), COL(COL_I64, drawing, created_at),
    COL(COL_I64, drawing, updated_at), COL(COL_BOOL, drawing, original_pending),
    COL(COL_BOOL, drawing, thumbnail_pending)};
static const struct col edit_cols[] = {
    COL(COL_TEXT, edit, image_key), COL(COL_TEXT, edit, thumbnail_key),
    COL(COL_TEXT, edit, prompt), COL(COL_TEXT, edit, source), COL(COL_TEXT, edit, applied),
    COL(COL_TEXT, edit, ignored), COL(COL_I64, edit, created_at),
    COL(COL_BOOL, edit, image_pending), COL(COL_BOOL, edit, thumbnail_pending)};
static const struct col tutorial_cols[] = {
    COL(COL_UUID, tutorial, id), COL(COL_TEXT, tutorial, title),
    COL(COL_I64, tutorial, created_at)};
/* clang-format on */

#define DRAWING_NCOLS ((int)NARGS(drawing_cols))

/* Reads n columns from column first into the record at rec, as cols lays it out. */
static enum err read_row(struct db *db, struct db_conn *c, int first, const struct col *cols,
                         size_t n, struct arena *a, void *rec)
{
    enum err rc = ERR_OK;

    for (size_t i = 0; i < n && rc == ERR_OK; i++) {
        void *field = (char *)rec + cols[i].offset;
        int col = first + (int)i;

        switch (cols[i].type) {
        case COL_UUID:
            rc = col_uuid(db, c, col, field);
            break;
        case COL_TEXT:
            rc = col_text(db, c, col, a, field);
            break;
        case COL_I64:
            rc = db->drv->i64(c, col, field);
            break;
        case COL_BOOL:
            rc = col_bool(db, c, col, field);
            break;
        }
    }
    return rc;
}

/*
 * Reads the rows of a statement already run: drawing columns from column col, its
 * edit's right after (NULL when it has none), grouped by drawing with edits oldest
 * first. A row whose drawing id is NULL (an empty gallery page) is skipped. If lead
 * is not NULL, columns 0 to col - 1 of the first row (numbers: a count, a version) go
 * to lead[0..col - 1]. Finishes the statement.
 */
static enum err read_drawings(struct db *db, struct db_conn *c, int col, struct arena *a,
                              struct drawing **out, size_t *n, int64_t *lead)
{
    struct vec ds = {.size = sizeof(struct drawing)}, es = {.size = sizeof(struct edit)};
    struct drawing *list = NULL;
    struct edit *edits = NULL;
    bool first = true;
    enum err rc;

    while ((rc = db->drv->step(c)) == ERR_OK) {
        struct drawing *d = ds.n ? (struct drawing *)ds.items + ds.n - 1 : NULL;
        size_t len = 0;
        const char *id = db->drv->bytes(c, col, &len);

        for (int i = 0; first && lead && i < col; i++) {
            rc = db->drv->i64(c, i, &lead[i]);
            if (rc != ERR_OK)
                goto out;
        }
        first = false;
        if (!id)
            continue;
        if (!d || len != strlen(d->id) || memcmp(d->id, id, len) != 0) {
            d = vec_push(&ds);
            rc = d ? read_row(db, c, col, drawing_cols, NARGS(drawing_cols), a, d) : ERR_NOMEM;
            if (rc != ERR_OK)
                goto out;
        }
        if (!is_null(db, c, col + DRAWING_NCOLS)) {
            struct edit *e = vec_push(&es);
            rc = e ? read_row(db, c, col + DRAWING_NCOLS, edit_cols, NARGS(edit_cols), a, e)
                   : ERR_NOMEM;
            if (rc != ERR_OK)
                goto out;
            d->n_edits++;
        }
    }
    if (rc != ERR_NOT_FOUND)
        goto out;
    if (first && lead) {
        log_error("db: the gallery query returned no row");
        rc = ERR_INTERNAL;
        goto out;
    }
    rc = vec_to_arena(&ds, a, (void **)&list);
    if (rc == ERR_OK)
        rc = vec_to_arena(&es, a, (void **)&edits);
    if (rc != ERR_OK)
        goto out;
    /* the edits are in the drawings' order: each drawing's are the next n_edits */
    for (size_t i = 0, k = 0; i < ds.n; k += list[i].n_edits, i++)
        list[i].edits = list[i].n_edits ? edits + k : NULL;
    *out = list;
    *n = ds.n;
out:
    db->drv->finish(c);
    vec_free(&ds);
    vec_free(&es);
    return rc;
}

/* user_id's drawing id with its edits; lock: until the transaction ends. */
static enum err load_drawing(struct db *db, struct db_conn *c, const char *user_id, const char *id,
                             bool lock, struct arena *a, struct drawing *out)
{
    const struct db_arg args[] = {ARG_T(id), ARG_T(user_id)};
    struct drawing *d = NULL;
    size_t n = 0;
    enum err rc = db->drv->exec(c, lock ? Q_DRAWING_LOCK : Q_DRAWING_GET, args, NARGS(args));

    if (rc == ERR_OK)
        rc = read_drawings(db, c, 0, a, &d, &n, NULL);
    else
        db->drv->finish(c);
    if (rc == ERR_OK && n != 1)
        rc = ERR_NOT_FOUND;
    if (rc == ERR_OK)
        *out = *d;
    return rc;
}

static enum err user_upsert(struct db *db, struct db_conn *c, const char *user_id)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_I(time_now_ms())};

    return run(db, c, Q_USER_ENSURE, args, NARGS(args), NULL);
}

static enum err insert_edit(struct db *db, struct db_conn *c, const char *drawing_id,
                            const struct edit *e)
{
    char *words = words_normalize(e->prompt, strlen(e->prompt)); /* what search indexes */
    const struct db_arg args[] = {ARG_T(drawing_id), ARG_T(e->image_key), ARG_T(e->thumbnail_key),
                                  ARG_T(e->prompt),  ARG_T(e->source),    ARG_I(e->created_at),
                                  ARG_T(words),      ARG_T(e->applied),   ARG_T(e->ignored)};
    enum err rc = words ? run(db, c, Q_EDIT_INSERT, args, NARGS(args), NULL) : ERR_NOMEM;

    free(words);
    return rc;
}

static enum err add_job(struct db *db, struct db_conn *c, enum job_kind kind, const char *key)
{
    const struct db_arg args[] = {ARG_T(kind == JOB_UPLOAD ? "upload" : "delete"), ARG_T(key),
                                  ARG_I(time_now_ms())};

    return run(db, c, Q_JOB_ADD, args, NARGS(args), NULL);
}

/* Keeps each pending object with its upload job, inside the caller's transaction. */
static enum err add_pending(struct db *db, struct db_conn *c, const char *drawing_id,
                            const struct db_pending *p, size_t n)
{
    enum err rc = ERR_OK;

    for (size_t i = 0; i < n && rc == ERR_OK; i++) {
        const struct db_arg args[] = {ARG_T(p[i].key), ARG_T(drawing_id), ARG_T(p[i].content_type),
                                      ARG_B(p[i].bytes, p[i].len), ARG_I(time_now_ms())};

        rc = run(db, c, Q_PENDING_ADD, args, NARGS(args), NULL);
        if (rc == ERR_OK)
            rc = add_job(db, c, JOB_UPLOAD, p[i].key);
    }
    return rc;
}

/* ---- argument checks --------------------------------------------------- */

static bool is_uuid(const char *s)
{
    return s && id_uuid_is_canonical(s);
}

static bool edit_is_valid(const struct edit *e)
{
    if (!e || !e->image_key || !e->prompt || !e->source)
        return false;
    return strcmp(e->source, "text") == 0 || strcmp(e->source, "audio") == 0;
}

/* The checks of an operation on user_id's drawing id: an id that is not a UUID is
 * nobody's drawing. */
static enum err check_owned(const struct db *db, const void *a, const void *out,
                            const char *user_id, const char *id)
{
    if (!db || !a || !out)
        return ERR_INVALID;
    return is_uuid(user_id) && is_uuid(id) ? ERR_OK : ERR_NOT_FOUND;
}

static bool pending_is_valid(const struct db_pending *p, size_t n)
{
    if (n > 0 && !p)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].key || !*p[i].key || !p[i].content_type || (!p[i].bytes && p[i].len))
            return false;
    }
    return true;
}

/* ---- open, close, migrate ---------------------------------------------- */

#define DB_TOTALS_CACHED 4096 /* search counts kept (search_page): about 230 KiB */

enum err db_open(const struct config *cfg, struct db **out)
{
    const struct db_driver *drv = NULL;
    struct idset *uc = NULL;
    struct vcache *totals = NULL;
    struct db *db = NULL;
    enum err rc = ERR_INVALID;

    if (!cfg || !out)
        goto out;
    if ((size_t)cfg->db_kind < NARGS(drivers))
        drv = drivers[cfg->db_kind];
    if (!drv) {
        log_error("db: this build has no backend for the configured DATABASE_URL");
        rc = ERR_UNSUPPORTED;
        goto out;
    }
    rc = idset_new(&uc);
    if (rc == ERR_OK)
        rc = vcache_new(DB_TOTALS_CACHED, &totals);
    if (rc != ERR_OK)
        goto out;
    rc = drv->open(cfg, &db);
    if (rc != ERR_OK)
        goto out;
    db->seen = uc;
    db->totals = totals;
    uc = NULL;
    totals = NULL;
    *out = db;
out:
    idset_free(uc);
    vcache_free(totals);
    return rc;
}

void db_close(struct db *db)
{
    struct idset *uc;
    struct vcache *totals;

    if (!db)
        return;
    uc = db->seen;
    totals = db->totals;
    db->drv->close(db);
    idset_free(uc);
    vcache_free(totals);
}

const char *db_name(const struct db *db)
{
    return db->drv->name;
}

/* Takes the migrations' lock: one migrator at a time, across processes and servers. */
static enum err migration_lock(struct db *db, struct db_conn *c)
{
    const struct db_arg args[] = {ARG_I(MIGRATION_LOCK_KEY)};
    enum err rc = begin(db, c, true);

    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_MIGRATION_LOCK, args, NARGS(args));
    db->drv->finish(c);
    return rc;
}

/* Applies migration version (1-based) unless it already is, in one transaction under
 * the lock, so servers starting together apply it once (the others wait, then find
 * the version row). */
static enum err migrate_one(struct db *db, struct db_conn *c, int64_t version, const char *sql)
{
    const struct db_arg args[] = {ARG_I(version), ARG_I(time_now_ms())};
    enum err rc = migration_lock(db, c);

    if (rc == ERR_OK)
        rc = first_row(db, c, Q_MIGRATION_APPLIED, args, 1);
    db->drv->finish(c);
    if (rc == ERR_NOT_FOUND) {
        rc = db->drv->script(c, sql);
        if (rc == ERR_OK)
            rc = run(db, c, Q_MIGRATION_RECORD, args, NARGS(args), NULL);
        if (rc == ERR_OK)
            log_info("db: applied migration %lld", (long long)version);
    }
    if (rc == ERR_OK)
        rc = commit(db, c);
    return rc;
}

/* Fills edits.words for edits made before it was kept, WORDS_BATCH at a time, each
 * batch one transaction; the triggers index them. A no-op (one indexed probe) once
 * done. Safe with several servers doing it at once: each writes the same words. */
#define WORDS_BATCH 256
static enum err fill_words(struct db *db, struct db_conn *c)
{
    const struct db_arg limit[] = {ARG_I(WORDS_BATCH)};
    struct vec todo = {.size = sizeof(int64_t)};
    struct vec texts = {.size = sizeof(char *)};
    enum err rc;

    do {
        rc = begin(db, c, true);
        if (rc == ERR_OK)
            rc = db->drv->exec(c, Q_EDIT_WORDS_TODO, limit, NARGS(limit));
        while (rc == ERR_OK && (rc = db->drv->step(c)) == ERR_OK) {
            int64_t *id = vec_push(&todo);
            char **w = vec_push(&texts);
            size_t len = 0;
            const char *prompt = db->drv->bytes(c, 1, &len);

            if (!id || !w) {
                rc = ERR_NOMEM;
                break;
            }
            rc = db->drv->i64(c, 0, id);
            if (rc == ERR_OK)
                *w = words_normalize(prompt ? prompt : "", prompt ? len : 0);
            if (rc == ERR_OK && !*w)
                rc = ERR_NOMEM;
        }
        db->drv->finish(c);
        if (rc == ERR_NOT_FOUND)
            rc = ERR_OK;
        for (size_t i = 0; i < todo.n && rc == ERR_OK; i++) {
            const struct db_arg args[] = {ARG_T(((char **)texts.items)[i]),
                                          ARG_I(((int64_t *)todo.items)[i])};
            rc = run(db, c, Q_EDIT_WORDS_SET, args, NARGS(args), NULL);
        }
        if (rc == ERR_OK)
            rc = commit(db, c);
        if (rc == ERR_OK && todo.n > 0)
            log_info("db: indexed the words of %zu edits for search", todo.n);
        for (size_t i = 0; i < texts.n; i++)
            free(((char **)texts.items)[i]);
        bool more = todo.n == WORDS_BATCH;
        vec_free(&todo);
        vec_free(&texts);
        if (!more)
            break;
    } while (rc == ERR_OK);
    return rc;
}

enum err db_migrate(struct db *db)
{
    const char *const *sql;
    struct db_conn *c = NULL;
    size_t n = 0;
    enum err rc;

    if (!db)
        return ERR_INVALID;
    sql = sql_migrations(db->drv->dialect, &n);
    rc = db->drv->acquire(db, &c);
    /* CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin: under the lock */
    if (rc == ERR_OK)
        rc = migration_lock(db, c);
    if (rc == ERR_OK)
        rc = db->drv->script(c, sql_migrations_table(db->drv->dialect));
    if (rc == ERR_OK)
        rc = commit(db, c);
    for (size_t i = 0; i < n && rc == ERR_OK; i++)
        rc = migrate_one(db, c, (int64_t)i + 1, sql[i]);
    if (rc == ERR_OK)
        rc = fill_words(db, c);
    db->drv->release(db, c);
    return rc;
}

/* Runs one statement without rows on a connection of its own. */
static enum err run_alone(struct db *db, enum sql_query q, const struct db_arg *args, size_t n,
                          int64_t *changed)
{
    struct db_conn *c = NULL;
    enum err rc = db->drv->acquire(db, &c);

    if (rc == ERR_OK)
        rc = run(db, c, q, args, n, changed);
    db->drv->release(db, c);
    return rc;
}

enum err db_ping(struct db *db)
{
    if (!db)
        return ERR_INVALID;
    return run_alone(db, Q_PING, NULL, 0, NULL);
}

/* ---- users and tutorials ----------------------------------------------- */

enum err db_user_ensure(struct db *db, const char *user_id)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_I(time_now_ms())};
    enum err rc;

    if (!db || !is_uuid(user_id))
        return ERR_INVALID;
    if (idset_has(db->seen, user_id))
        return ERR_OK;
    rc = run_alone(db, Q_USER_ENSURE, args, NARGS(args), NULL);
    if (rc == ERR_OK)
        idset_add(db->seen, user_id);
    return rc;
}

enum err db_user_admit(struct db *db, const char *user_id, int64_t issued_at_ms)
{
    const struct db_arg args[] = {ARG_T(user_id)};
    int64_t now = time_now_ms(), since, deleted_at = 0;
    enum err rc;

    if (!db || !is_uuid(user_id))
        return ERR_INVALID;
    /* forget what we saw now and then, so a deletion on another server is heard of */
    since = atomic_load(&db->seen_since_ms);
    if (now - since > DB_SEEN_TTL_MS &&
        atomic_compare_exchange_strong(&db->seen_since_ms, &since, now))
        idset_clear(db->seen);
    if (idset_has(db->seen, user_id))
        return ERR_OK;
    rc = one_i64(db, Q_TOMBSTONE_GET, args, NARGS(args), &deleted_at);
    if (rc == ERR_OK && (issued_at_ms < 0 || issued_at_ms <= deleted_at))
        return ERR_UNAUTHORIZED; /* a token of the account that was deleted */
    if (rc != ERR_OK && rc != ERR_NOT_FOUND)
        return rc;
    return db_user_ensure(db, user_id);
}

enum err db_tutorial_add(struct db *db, const struct tutorial *t)
{
    if (!db || !t || !is_uuid(t->id) || !t->title)
        return ERR_INVALID;
    const struct db_arg args[] = {ARG_T(t->id), ARG_T(t->title), ARG_I(t->created_at)};

    return run_alone(db, Q_TUTORIAL_ADD, args, NARGS(args), NULL);
}

enum err db_tutorial_exists(struct db *db, const char *id)
{
    const struct db_arg args[] = {ARG_T(id)};
    struct db_conn *c = NULL;
    enum err rc;

    if (!db)
        return ERR_INVALID;
    if (!is_uuid(id))
        return ERR_NOT_FOUND;
    rc = first_row_alone(db, Q_TUTORIAL_EXISTS, args, NARGS(args), &c); /* no row: NOT_FOUND */
    db->drv->release(db, c);
    return rc;
}

enum err db_tutorial_list(struct db *db, struct arena *a, struct tutorial **out, size_t *n)
{
    struct vec v = {.size = sizeof(struct tutorial)};
    struct db_conn *c = NULL;
    void *list;
    enum err rc;

    if (!db || !a || !out || !n)
        return ERR_INVALID;
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_TUTORIAL_LIST, NULL, 0);
    while (rc == ERR_OK && (rc = db->drv->step(c)) == ERR_OK) {
        struct tutorial *t = vec_push(&v);

        rc = t ? read_row(db, c, 0, tutorial_cols, NARGS(tutorial_cols), a, t) : ERR_NOMEM;
    }
    if (rc == ERR_NOT_FOUND)
        rc = vec_to_arena(&v, a, &list);
    if (rc == ERR_OK) {
        *out = list;
        *n = v.n;
    }
    db->drv->release(db, c);
    vec_free(&v);
    return rc;
}

/* ---- drawings ---------------------------------------------------------- */

enum err db_drawing_insert(struct db *db, const struct drawing *d, const struct db_pending *pending,
                           size_t n_pending)
{
    struct db_conn *c = NULL;
    enum err rc;

    if (!db || !d || !is_uuid(d->id) || !is_uuid(d->user_id) || !d->original_key)
        return ERR_INVALID;
    if ((d->tutorial_id && !is_uuid(d->tutorial_id)) || (d->n_edits > 0 && !d->edits))
        return ERR_INVALID;
    for (size_t i = 0; i < d->n_edits; i++) {
        if (!edit_is_valid(&d->edits[i]))
            return ERR_INVALID;
    }
    if (!pending_is_valid(pending, n_pending))
        return ERR_INVALID;
    const struct db_arg args[] = {
        ARG_T(d->id),           ARG_T(d->user_id),       ARG_T(d->tutorial_id),
        ARG_T(d->original_key), ARG_T(d->thumbnail_key), ARG_I(d->created_at),
        ARG_I(d->updated_at)};

    rc = write_transaction(db, &c);
    /* the owner's row carries the counters the triggers update */
    if (rc == ERR_OK)
        rc = user_upsert(db, c, d->user_id);
    if (rc == ERR_OK)
        rc = run(db, c, Q_DRAWING_INSERT, args, NARGS(args), NULL); /* no tutorial: NOT_FOUND */
    for (size_t i = 0; i < d->n_edits && rc == ERR_OK; i++)
        rc = insert_edit(db, c, d->id, &d->edits[i]);
    if (rc == ERR_OK)
        rc = add_pending(db, c, d->id, pending, n_pending);
    if (rc == ERR_OK)
        rc = commit(db, c);
    db->drv->release(db, c);
    return rc;
}

enum err db_drawing_get(struct db *db, const char *user_id, const char *id, struct arena *a,
                        struct drawing *out)
{
    struct db_conn *c = NULL;
    enum err rc = check_owned(db, a, out, user_id, id);

    if (rc == ERR_OK)
        rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = load_drawing(db, c, user_id, id, false, a, out); /* one statement: one snapshot */
    db->drv->release(db, c);
    return rc;
}

enum err db_drawing_list(struct db *db, const char *user_id, int64_t offset, int64_t limit,
                         struct arena *a, struct drawing **out, size_t *n, int64_t *total)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_I(limit), ARG_I(offset)};
    struct db_conn *c = NULL;
    enum err rc;

    /* user_id comes from a verified token, so a malformed one is a caller bug */
    if (!db || !a || !out || !n || !total || !is_uuid(user_id))
        return ERR_INVALID;
    if (offset < 0 || limit < 1 || limit > DB_LIST_MAX)
        return ERR_INVALID;
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_GALLERY_PAGE, args, NARGS(args));
    if (rc == ERR_OK)
        rc = read_drawings(db, c, 1, a, out, n, total); /* column 0: the total */
    db->drv->release(db, c);
    return rc;
}

/* The statement that answers f, and how many of the parameters it takes. */
static enum sql_query gallery_query(const struct gallery_filter *f, size_t *nargs)
{
    bool old = f->oldest_first;

    if (f->words) {
        *nargs = 9; /* search_page adds the 9th */
        return old ? Q_GALLERY_SEARCH_OLD : Q_GALLERY_SEARCH_NEW;
    }
    if (f->tutorial_id) {
        *nargs = 7;
        return old ? Q_GALLERY_TUTORIAL_OLD : Q_GALLERY_TUTORIAL_NEW;
    }
    if (f->edited >= 0) {
        *nargs = 6;
        return old ? Q_GALLERY_EDITED_OLD : Q_GALLERY_EDITED_NEW;
    }
    *nargs = 5;
    return old ? Q_GALLERY_DATES_OLD : Q_GALLERY_DATES_NEW;
}

/* What a search's count depends on: the user and every filter but the sort (NULL when
 * out of memory: the count is then made each time). */
static const char *total_key(const char *user_id, const struct gallery_filter *f, struct arena *a)
{
    return arena_printf(a, "%s %s %lld %lld %d %s", user_id, f->tutorial_id ? f->tutorial_id : "-",
                        (long long)f->from_ms, (long long)f->to_ms, f->edited, f->words);
}

/*
 * A search page (Q_GALLERY_SEARCH_*; args as db_gallery_list's, the 9th whether to
 * count). Its count is kept in db->totals under the user's gallery version read in the
 * same statement, so it is made once a version: a page is first asked for without it,
 * and asked again with it only when the kept one is of another version (or none).
 */
static enum err search_page(struct db *db, struct db_conn *c, enum sql_query q,
                            const struct db_arg *args, const char *key_text, struct arena *a,
                            struct drawing **out, size_t *n, int64_t *total)
{
    struct db_arg all[9];
    unsigned char key[DIGEST_SHA256_LEN];
    int64_t lead[2] = {0, 0}, kept_version = 0, kept = 0;
    bool have = false;
    enum err rc;

    memcpy(all, args, 8 * sizeof(*args));
    if (key_text) {
        vcache_key(key_text, strlen(key_text), key);
        have = vcache_get(db->totals, key, &kept_version, &kept);
    }
    all[8] = ARG_I(have ? 0 : 1);
    rc = db->drv->exec(c, q, all, 9);
    if (rc == ERR_OK)
        rc = read_drawings(db, c, 2, a, out, n, lead); /* the count (or -1), the version */
    if (rc == ERR_OK && have && lead[1] != kept_version) { /* changed since: count again */
        all[8] = ARG_I(1);
        rc = db->drv->exec(c, q, all, 9);
        if (rc == ERR_OK)
            rc = read_drawings(db, c, 2, a, out, n, lead);
    }
    if (rc != ERR_OK)
        return rc;
    if (key_text)
        metrics_cache("search_count", lead[0] < 0);
    if (lead[0] < 0) { /* not counted: the kept count is of this version */
        *total = kept;
        return ERR_OK;
    }
    if (key_text)
        vcache_put(db->totals, key, lead[1], lead[0]);
    *total = lead[0];
    return ERR_OK;
}

static bool filter_is_none(const struct gallery_filter *f)
{
    return !f->tutorial_id && !f->words && f->edited < 0 && !f->oldest_first &&
           f->from_ms <= GALLERY_TIME_MIN && f->to_ms >= GALLERY_TIME_MAX;
}

enum err db_gallery_list(struct db *db, const char *user_id, const struct gallery_filter *f,
                         int64_t offset, int64_t limit, struct arena *a, struct drawing **out,
                         size_t *n, int64_t *total)
{
    struct db_conn *c = NULL;
    char *search = NULL;
    size_t nargs = 0;
    enum sql_query q;
    enum err rc;

    if (!f || f->edited < -1 || f->edited > 1 || (f->tutorial_id && !is_uuid(f->tutorial_id)))
        return ERR_INVALID;
    if (filter_is_none(f)) /* the plain gallery: its count is the user's counter */
        return db_drawing_list(db, user_id, offset, limit, a, out, n, total);
    if (!db || !a || !out || !n || !total || !is_uuid(user_id))
        return ERR_INVALID;
    if (offset < 0 || limit < 1 || limit > DB_LIST_MAX)
        return ERR_INVALID;
    if (f->words) {
        search = sql_search_text(db->drv->dialect, f->words, user_id, f->tutorial_id);
        if (!search)
            return *f->words ? ERR_NOMEM : ERR_INVALID; /* no word: nothing to search */
    }
    const struct db_arg args[] = {
        ARG_T(user_id),        ARG_I(limit), ARG_I(offset),
        ARG_I(f->from_ms < GALLERY_TIME_MIN ? GALLERY_TIME_MIN : f->from_ms),
        ARG_I(f->to_ms > GALLERY_TIME_MAX ? GALLERY_TIME_MAX : f->to_ms),
        f->edited < 0 ? ARG_T(NULL) : ARG_I(f->edited),
        ARG_T(f->tutorial_id), ARG_T(search)};

    q = gallery_query(f, &nargs);
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK && f->words)
        rc = search_page(db, c, q, args, total_key(user_id, f, a), a, out, n, total);
    else if (rc == ERR_OK)
        rc = db->drv->exec(c, q, args, nargs);
    if (rc == ERR_OK && !f->words)
        rc = read_drawings(db, c, 1, a, out, n, total); /* column 0: the count */
    db->drv->release(db, c);
    free(search);
    return rc;
}

enum err db_user_version(struct db *db, const char *user_id, int64_t *out)
{
    const struct db_arg args[] = {ARG_T(user_id)};
    struct db_conn *c = NULL;
    int64_t v = -1; /* no row: no version a row ever has */
    enum err rc;

    if (!db || !out || !is_uuid(user_id))
        return ERR_INVALID;
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_USER_VERSION, args, NARGS(args));
    if (rc == ERR_OK)
        rc = db->drv->step(c);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 0, &v);
    if (rc == ERR_NOT_FOUND) /* no row yet */
        rc = ERR_OK;
    if (rc == ERR_OK)
        *out = v;
    db->drv->release(db, c);
    return rc;
}

enum err db_drawing_delete(struct db *db, const char *user_id, const char *id, struct arena *a,
                           struct drawing *out)
{
    const struct db_arg args[] = {ARG_T(id), ARG_T(user_id)};
    struct db_conn *c = NULL;
    struct drawing d;
    int64_t changed = 0;
    enum err rc = check_owned(db, a, out, user_id, id);

    if (rc == ERR_OK)
        rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = load_drawing(db, c, user_id, id, true, a, &d); /* not theirs: ERR_NOT_FOUND */
    if (rc == ERR_OK)
        rc = run(db, c, Q_DRAWING_DELETE, args, NARGS(args), &changed); /* edits cascade */
    if (rc == ERR_OK && changed != 1) {
        log_error("db: delete drawing: the row read was not deleted");
        rc = ERR_INTERNAL;
    }
    if (rc == ERR_OK)
        rc = commit(db, c);
    if (rc == ERR_OK)
        *out = d;
    db->drv->release(db, c);
    return rc;
}

/* A JSON array of the canonical UUIDs among ids (the others skipped) in the arena, for
 * IDS_IN (queries.inc); *count gets how many it holds. No escaping: a UUID needs none. */
static char *id_array(const char *const *ids, size_t n, struct arena *a, size_t *count)
{
    char *json = arena_alloc(a, 2 + n * (ID_UUID_LEN + 2) + 1), *p = json;

    *count = 0;
    if (!json)
        return NULL;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (!is_uuid(ids[i]))
            continue;
        if (*count > 0)
            *p++ = ',';
        *p++ = '"';
        memcpy(p, ids[i], ID_UUID_LEN - 1);
        p += ID_UUID_LEN - 1;
        *p++ = '"';
        (*count)++;
    }
    *p++ = ']';
    *p = '\0';
    return json;
}

enum err db_drawings_delete_many(struct db *db, const char *user_id, const char *const *ids,
                                 size_t n, struct arena *a, struct drawing **out, size_t *n_out)
{
    struct db_conn *c = NULL;
    struct drawing *ds = NULL;
    const char **found = NULL;
    size_t n_ds = 0, n_valid = 0, n_found = 0;
    int64_t changed = 0;
    char *json;
    enum err rc;

    if (!db || !a || !out || !n_out || !ids || n < 1 || n > DB_DELETE_MANY_MAX ||
        !is_uuid(user_id))
        return ERR_INVALID;
    json = id_array(ids, n, a, &n_valid);
    if (!json)
        return ERR_NOMEM;
    if (n_valid == 0) { /* nobody's drawings */
        *out = NULL;
        *n_out = 0;
        return ERR_OK;
    }
    const struct db_arg args[] = {ARG_T(json), ARG_T(user_id)};

    rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_DRAWINGS_LOCK_MANY, args, NARGS(args));
    if (rc == ERR_OK)
        rc = read_drawings(db, c, 0, a, &ds, &n_ds, NULL); /* finishes the statement */
    else
        db->drv->finish(c);
    if (rc == ERR_OK && n_ds > 0) {
        /* exactly the rows read (and locked) go */
        found = arena_alloc(a, n_ds * sizeof(*found));
        rc = found ? ERR_OK : ERR_NOMEM;
        for (size_t i = 0; i < n_ds && rc == ERR_OK; i++)
            found[i] = ds[i].id;
        json = rc == ERR_OK ? id_array(found, n_ds, a, &n_found) : NULL;
        if (rc == ERR_OK && !json)
            rc = ERR_NOMEM;
        const struct db_arg del[] = {ARG_T(json), ARG_T(user_id)};
        if (rc == ERR_OK)
            rc = run(db, c, Q_DRAWINGS_DELETE_MANY, del, NARGS(del), &changed); /* edits cascade */
        if (rc == ERR_OK && changed != (int64_t)n_ds) {
            log_error("db: delete drawings: %lld rows read, %lld deleted", (long long)n_ds,
                      (long long)changed);
            rc = ERR_INTERNAL;
        }
    }
    if (rc == ERR_OK)
        rc = commit(db, c);
    if (rc == ERR_OK) {
        *out = ds;
        *n_out = n_ds;
    }
    db->drv->release(db, c);
    return rc;
}

/* updated_at becomes the edit's created_at. */
enum err db_edit_append(struct db *db, const char *user_id, const char *drawing_id,
                        const struct edit *e, const struct db_pending *pending, size_t n_pending)
{
    struct db_conn *c = NULL;
    int64_t changed = 0;
    enum err rc;

    if (!db || !edit_is_valid(e) || !pending_is_valid(pending, n_pending))
        return ERR_INVALID;
    if (!is_uuid(user_id) || !is_uuid(drawing_id))
        return ERR_NOT_FOUND;
    const struct db_arg args[] = {ARG_I(e->created_at), ARG_T(drawing_id), ARG_T(user_id)};

    rc = write_transaction(db, &c);
    /* locks the drawing's row first: two edits cannot both count as its first */
    if (rc == ERR_OK)
        rc = run(db, c, Q_DRAWING_TOUCH, args, NARGS(args), &changed);
    if (rc == ERR_OK && changed == 0)
        rc = ERR_NOT_FOUND; /* absent, or not theirs */
    if (rc == ERR_OK)
        rc = insert_edit(db, c, drawing_id, e);
    if (rc == ERR_OK)
        rc = add_pending(db, c, drawing_id, pending, n_pending);
    if (rc == ERR_OK)
        rc = commit(db, c);
    db->drv->release(db, c);
    return rc;
}

enum err db_stats(struct db *db, const char *user_id, struct drawing_stats *out)
{
    const struct db_arg args[] = {ARG_T(user_id)};
    struct drawing_stats s = {0};
    struct db_conn *c = NULL;
    enum err rc;

    if (!db || !out || !is_uuid(user_id))
        return ERR_INVALID;
    rc = first_row_alone(db, Q_USER_COUNTS, args, NARGS(args), &c);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 0, &s.total_drawings);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 1, &s.edited_drawings);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 2, &s.tutorial_drawings);
    if (rc == ERR_NOT_FOUND) /* no row yet: zeros */
        rc = ERR_OK;
    if (rc == ERR_OK)
        *out = s;
    db->drv->release(db, c);
    return rc;
}

/* ---- jobs -------------------------------------------------------------- */

enum err db_job_add(struct db *db, enum job_kind kind, const char *key)
{
    struct db_conn *c = NULL;
    enum err rc;

    if (!db || !key || !*key || (kind != JOB_DELETE && kind != JOB_UPLOAD))
        return ERR_INVALID;
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = add_job(db, c, kind, key);
    db->drv->release(db, c);
    return rc;
}

enum err db_job_claim(struct db *db, int64_t now_ms, int64_t lease_ms, struct arena *a,
                      struct db_job *out)
{
    struct db_job j = {0};
    struct db_conn *c = NULL;
    char *kind = NULL;
    enum err rc;

    if (!db || !a || !out || now_ms < 0 || lease_ms <= 0 || lease_ms > INT64_MAX - now_ms)
        return ERR_INVALID;
    const struct db_arg args[] = {ARG_I(now_ms), ARG_I(now_ms + lease_ms)};

    rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = first_row(db, c, Q_JOB_CLAIM, args, NARGS(args)); /* none due: ERR_NOT_FOUND */
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 0, &j.id);
    if (rc == ERR_OK)
        rc = col_text(db, c, 1, a, &kind);
    if (rc == ERR_OK)
        rc = col_text(db, c, 2, a, &j.object_key);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 3, &j.attempts);
    db->drv->finish(c);
    if (rc == ERR_OK)
        rc = commit(db, c);
    db->drv->release(db, c);
    if (rc != ERR_OK)
        return rc;
    if (!kind || !j.object_key || (strcmp(kind, "delete") != 0 && strcmp(kind, "upload") != 0)) {
        log_warn("db: job %lld is of no known kind; dropped", (long long)j.id);
        (void)db_job_done(db, j.id);
        return ERR_NOT_FOUND;
    }
    j.kind = strcmp(kind, "upload") == 0 ? JOB_UPLOAD : JOB_DELETE;
    *out = j;
    return ERR_OK;
}

enum err db_job_done(struct db *db, int64_t id)
{
    const struct db_arg args[] = {ARG_I(id)};
    int64_t changed = 0;
    enum err rc;

    if (!db || id <= 0)
        return ERR_INVALID;
    rc = run_alone(db, Q_JOB_DONE, args, NARGS(args), &changed);
    return rc == ERR_OK && changed != 1 ? ERR_NOT_FOUND : rc;
}

enum err db_job_retry(struct db *db, int64_t id, int64_t next_run_at, const char *error)
{
    char *cut = NULL;
    int64_t changed = 0;
    enum err rc;

    if (!db || id <= 0 || next_run_at < 0)
        return ERR_INVALID;
    /* a long error is kept in part (cut on a byte boundary the caller's text allows) */
    if (error && strlen(error) > JOB_ERROR_MAX) {
        cut = strndup(error, JOB_ERROR_MAX);
        if (!cut)
            return ERR_NOMEM;
        error = cut;
    }
    const struct db_arg args[] = {ARG_I(id), ARG_I(next_run_at), ARG_T(error)};

    rc = run_alone(db, Q_JOB_RETRY, args, NARGS(args), &changed);
    free(cut);
    return rc == ERR_OK && changed != 1 ? ERR_NOT_FOUND : rc;
}

enum err db_job_pending(struct db *db, int64_t *uploads, int64_t *deletes)
{
    struct db_conn *c = NULL;
    int64_t up = 0, del = 0;
    enum err rc;

    if (!db || !uploads || !deletes)
        return ERR_INVALID;
    rc = first_row_alone(db, Q_JOB_PENDING, NULL, 0, &c);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 0, &up);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 1, &del);
    if (rc == ERR_OK) {
        *uploads = up;
        *deletes = del;
    }
    db->drv->release(db, c);
    return rc;
}

enum err db_keys_referenced(struct db *db, db_key_fn fn, void *ctx)
{
    struct db_conn *c = NULL;
    enum err rc;

    if (!db || !fn)
        return ERR_INVALID;
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_KEYS_REFERENCED, NULL, 0);
    while (rc == ERR_OK && (rc = db->drv->step(c)) == ERR_OK) {
        size_t len = 0;
        const char *key = db->drv->bytes(c, 0, &len);

        if (key && memchr(key, '\0', len) == NULL) {
            char *copy = strndup(key, len);
            rc = copy ? fn(ctx, copy) : ERR_NOMEM;
            free(copy);
        }
    }
    if (rc == ERR_NOT_FOUND)
        rc = ERR_OK;
    db->drv->release(db, c);
    return rc;
}

/* ---- pending objects --------------------------------------------------- */

enum err db_pending_get(struct db *db, const char *key, struct arena *a, struct db_pending *out)
{
    const struct db_arg args[] = {ARG_T(key)};
    struct db_pending p = {.key = key};
    struct db_conn *c = NULL;
    char *type = NULL;
    void *bytes = NULL;
    size_t len = 0;
    const void *b;
    enum err rc;

    if (!db || !key || !a || !out)
        return ERR_INVALID;
    rc = first_row_alone(db, Q_PENDING_GET, args, NARGS(args), &c);
    if (rc == ERR_OK)
        rc = col_text(db, c, 0, a, &type);
    if (rc == ERR_OK) {
        b = db->drv->bytes(c, 1, &len);
        bytes = arena_alloc(a, len ? len : 1);
        if (!bytes || !b || !type)
            rc = bytes ? ERR_INTERNAL : ERR_NOMEM;
        else
            memcpy(bytes, b, len);
    }
    db->drv->release(db, c);
    if (rc != ERR_OK)
        return rc;
    p.content_type = type;
    p.bytes = bytes;
    p.len = len;
    *out = p;
    return ERR_OK;
}

/* ---- accounts ------------------------------------------------------------ */

static const struct col account_cols[] = {
    {COL_UUID, offsetof(struct account, id)},
    {COL_TEXT, offsetof(struct account, email)},
    {COL_TEXT, offsetof(struct account, password_hash)},
    {COL_I64, offsetof(struct account, created_at)},
};

enum err db_account_create(struct db *db, const struct account *acct)
{
    if (!db || !acct || !is_uuid(acct->id) || !acct->email)
        return ERR_INVALID;
    const struct db_arg args[] = {ARG_T(acct->id), ARG_I(acct->created_at), ARG_T(acct->email),
                                  ARG_T(acct->password_hash)};
    enum err rc = run_alone(db, Q_ACCOUNT_CREATE, args, NARGS(args), NULL);

    if (rc == ERR_OK)
        idset_add(db->seen, acct->id);
    return rc;
}

/* The one account row q finds by its one text parameter. */
static enum err account_read(struct db *db, enum sql_query q, const char *key, struct arena *a,
                             struct account *out)
{
    const struct db_arg args[] = {ARG_T(key)};
    struct account acct;
    struct db_conn *c = NULL;
    enum err rc;

    if (!db || !key || !a || !out)
        return ERR_INVALID;
    rc = first_row_alone(db, q, args, NARGS(args), &c);
    if (rc == ERR_OK)
        rc = read_row(db, c, 0, account_cols, NARGS(account_cols), a, &acct);
    db->drv->release(db, c);
    if (rc == ERR_OK)
        *out = acct;
    return rc;
}

enum err db_account_by_email(struct db *db, const char *email, struct arena *a,
                             struct account *out)
{
    return account_read(db, Q_ACCOUNT_BY_EMAIL, email, a, out);
}

enum err db_account_get(struct db *db, const char *user_id, struct arena *a, struct account *out)
{
    if (!is_uuid(user_id))
        return ERR_INVALID;
    return account_read(db, Q_ACCOUNT_GET, user_id, a, out);
}

enum err db_account_set_password(struct db *db, const char *user_id, const char *hash)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_T(hash)};
    struct db_conn *c = NULL;
    int64_t changed = 0;
    enum err rc;

    if (!db || !is_uuid(user_id) || !hash)
        return ERR_INVALID;
    rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = run(db, c, Q_ACCOUNT_SET_PASSWORD, args, NARGS(args), &changed);
    if (rc == ERR_OK && changed != 1)
        rc = ERR_NOT_FOUND;
    if (rc == ERR_OK)
        rc = run(db, c, Q_REFRESH_REVOKE_USER, args, 1, NULL);
    if (rc == ERR_OK)
        rc = commit(db, c);
    db->drv->release(db, c);
    return rc;
}

enum err db_account_delete(struct db *db, const char *user_id, int64_t now_ms, int64_t *n_objects)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_I(now_ms)};
    struct db_conn *c = NULL;
    int64_t queued = 0, changed = 0;
    enum err rc;

    if (!db || !is_uuid(user_id))
        return ERR_INVALID;
    rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = run(db, c, Q_ACCOUNT_DELETE_JOBS, args, 2, &queued);
    if (rc == ERR_OK)
        rc = run(db, c, Q_ACCOUNT_DELETE_DRAWINGS, args, 1, NULL);
    if (rc == ERR_OK)
        rc = run(db, c, Q_REFRESH_REVOKE_USER, args, 1, NULL);
    if (rc == ERR_OK)
        rc = run(db, c, Q_ACCOUNT_DELETE_USER, args, 1, &changed);
    if (rc == ERR_OK && changed != 1)
        rc = ERR_NOT_FOUND;
    if (rc == ERR_OK)
        rc = run(db, c, Q_TOMBSTONE_ADD, args, 2, NULL);
    if (rc == ERR_OK)
        rc = commit(db, c);
    db->drv->release(db, c);
    if (rc != ERR_OK)
        return rc;
    idset_clear(db->seen); /* this server refuses the old tokens at once */
    if (n_objects)
        *n_objects = queued;
    return ERR_OK;
}

enum err db_refresh_add(struct db *db, const unsigned char hash[DB_HASH_LEN], const char *family,
                        const char *user_id, int64_t now_ms, int64_t expires_ms)
{
    if (!db || !hash || !is_uuid(family) || !is_uuid(user_id))
        return ERR_INVALID;
    const struct db_arg args[] = {ARG_B(hash, DB_HASH_LEN), ARG_T(family), ARG_T(user_id),
                                  ARG_I(now_ms), ARG_I(expires_ms)};

    return run_alone(db, Q_REFRESH_ADD, args, NARGS(args), NULL);
}

enum err db_refresh_rotate(struct db *db, const unsigned char hash[DB_HASH_LEN],
                           const unsigned char new_hash[DB_HASH_LEN], int64_t now_ms,
                           int64_t new_expires_ms, struct arena *a, struct refresh_grant *out)
{
    const struct db_arg key[] = {ARG_B(hash, DB_HASH_LEN), ARG_I(now_ms)};
    struct refresh_grant g = {{0}};
    struct db_conn *c = NULL;
    int64_t expires_at = 0, spent = 0, changed = 0;
    enum err rc;

    if (!db || !hash || !new_hash || !a || !out)
        return ERR_INVALID;
    rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = first_row(db, c, Q_REFRESH_LOCK, key, 1);
    if (rc == ERR_OK)
        rc = col_uuid(db, c, 0, g.family);
    if (rc == ERR_OK)
        rc = col_uuid(db, c, 1, g.user_id);
    if (rc == ERR_OK)
        rc = col_text(db, c, 2, a, &g.email);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 3, &expires_at);
    if (rc == ERR_OK)
        rc = db->drv->i64(c, 4, &spent);
    db->drv->finish(c);
    if (rc == ERR_NOT_FOUND)
        rc = ERR_UNAUTHORIZED;
    if (rc == ERR_OK && spent) {
        /* a spent token again: stolen, or its successor was; end the whole login */
        const char *family = g.family;
        const struct db_arg fam[] = {ARG_T(family)};
        rc = run(db, c, Q_REFRESH_REVOKE_FAMILY, fam, 1, NULL);
        if (rc == ERR_OK)
            rc = commit(db, c);
        if (rc == ERR_OK) {
            *out = g;
            rc = ERR_CONFLICT;
        }
        goto out;
    }
    if (rc == ERR_OK && expires_at <= now_ms)
        rc = ERR_UNAUTHORIZED;
    if (rc == ERR_OK)
        rc = run(db, c, Q_REFRESH_SPEND, key, 2, &changed);
    if (rc == ERR_OK && changed != 1)
        rc = ERR_UNAUTHORIZED; /* spent meanwhile (SQLite holds the lock: cannot happen) */
    if (rc == ERR_OK) {
        const char *family = g.family, *user_id = g.user_id;
        const struct db_arg next[] = {ARG_B(new_hash, DB_HASH_LEN), ARG_T(family),
                                      ARG_T(user_id), ARG_I(now_ms), ARG_I(new_expires_ms)};
        rc = run(db, c, Q_REFRESH_ADD, next, NARGS(next), NULL);
    }
    if (rc == ERR_OK)
        rc = commit(db, c);
    if (rc == ERR_OK)
        *out = g;
out:
    db->drv->release(db, c);
    return rc;
}

enum err db_refresh_revoke(struct db *db, const unsigned char hash[DB_HASH_LEN])
{
    const struct db_arg key[] = {ARG_B(hash, DB_HASH_LEN)};
    char family[ID_UUID_LEN];
    struct db_conn *c = NULL;
    enum err rc;

    if (!db || !hash)
        return ERR_INVALID;
    rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = first_row(db, c, Q_REFRESH_LOCK, key, 1);
    if (rc == ERR_OK)
        rc = col_uuid(db, c, 0, family);
    db->drv->finish(c);
    if (rc == ERR_OK) {
        const char *f = family;
        const struct db_arg fam[] = {ARG_T(f)};
        rc = run(db, c, Q_REFRESH_REVOKE_FAMILY, fam, 1, NULL);
    }
    if (rc == ERR_OK)
        rc = commit(db, c);
    db->drv->release(db, c);
    return rc;
}

enum err db_refresh_prune(struct db *db, const char *user_id, int64_t now_ms)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_I(now_ms)};

    if (!db || !is_uuid(user_id))
        return ERR_INVALID;
    return run_alone(db, Q_REFRESH_PRUNE, args, NARGS(args), NULL);
}

enum err db_login_locked_until(struct db *db, const unsigned char email_hash[DB_HASH_LEN],
                               int64_t now_ms, int64_t window_ms, int limit, int64_t *until_ms)
{
    const struct db_arg args[] = {ARG_B(email_hash, DB_HASH_LEN), ARG_I(now_ms - window_ms),
                                  ARG_I(limit - 1)};
    int64_t at = 0;
    enum err rc;

    if (!db || !email_hash || limit < 1 || !until_ms)
        return ERR_INVALID;
    *until_ms = 0;
    rc = one_i64(db, Q_LOGIN_LOCKED_UNTIL, args, NARGS(args), &at);
    if (rc == ERR_OK)
        *until_ms = at + window_ms;
    return rc == ERR_NOT_FOUND ? ERR_OK : rc;
}

enum err db_login_failed(struct db *db, const unsigned char email_hash[DB_HASH_LEN],
                         int64_t now_ms, int64_t window_ms)
{
    const struct db_arg add[] = {ARG_B(email_hash, DB_HASH_LEN), ARG_I(now_ms)};
    const struct db_arg old[] = {ARG_I(now_ms - window_ms)};
    struct db_conn *c = NULL;
    enum err rc;

    if (!db || !email_hash)
        return ERR_INVALID;
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = run(db, c, Q_LOGIN_FAILURE_ADD, add, NARGS(add), NULL);
    if (rc == ERR_OK)
        rc = run(db, c, Q_LOGIN_FAILURE_PRUNE, old, NARGS(old), NULL);
    db->drv->release(db, c);
    return rc;
}

enum err db_login_cleared(struct db *db, const unsigned char email_hash[DB_HASH_LEN])
{
    const struct db_arg args[] = {ARG_B(email_hash, DB_HASH_LEN)};

    if (!db || !email_hash)
        return ERR_INVALID;
    return run_alone(db, Q_LOGIN_FAILURE_CLEAR, args, NARGS(args), NULL);
}

enum err db_pending_done(struct db *db, const char *key)
{
    const struct db_arg args[] = {ARG_T(key)};
    int64_t changed = 0;
    enum err rc;

    if (!db || !key)
        return ERR_INVALID;
    rc = run_alone(db, Q_PENDING_DONE, args, NARGS(args), &changed);
    return rc == ERR_OK && changed == 0 ? ERR_NOT_FOUND : rc;
}

/* ---- share links ------------------------------------------------------- */

enum err db_share_add(struct db *db, const char *user_id, const char *drawing_id,
                      const unsigned char hash[DB_SHARE_HASH_LEN], const struct share *s)
{
    int64_t changed = 0;
    enum err rc;

    if (!db || !hash || !s || !s->token || !*s->token || !is_uuid(user_id))
        return ERR_INVALID;
    if (s->expires && s->expires_at <= s->created_at)
        return ERR_INVALID;
    if (!is_uuid(drawing_id))
        return ERR_NOT_FOUND;
    const struct db_arg args[] = {ARG_B(hash, DB_SHARE_HASH_LEN),
                                  ARG_T(s->token),
                                  ARG_T(drawing_id),
                                  ARG_T(user_id),
                                  ARG_I(s->created_at),
                                  s->expires ? ARG_I(s->expires_at) : ARG_T(NULL)};

    rc = run_alone(db, Q_SHARE_ADD, args, NARGS(args), &changed);
    return rc == ERR_OK && changed != 1 ? ERR_NOT_FOUND : rc;
}

enum err db_share_list(struct db *db, const char *user_id, const char *drawing_id, struct arena *a,
                       struct share **out, size_t *n)
{
    const struct db_arg args[] = {ARG_T(drawing_id), ARG_T(user_id)};
    struct vec v = {.size = sizeof(struct share)};
    struct db_conn *c = NULL;
    bool found = false;
    void *list = NULL;
    enum err rc;

    if (!db || !a || !out || !n || !is_uuid(user_id))
        return ERR_INVALID;
    if (!is_uuid(drawing_id))
        return ERR_NOT_FOUND;
    rc = db->drv->acquire(db, &c);
    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_SHARE_LIST, args, NARGS(args));
    while (rc == ERR_OK && (rc = db->drv->step(c)) == ERR_OK) {
        struct share *s;

        found = true; /* the drawing's row: theirs */
        if (is_null(db, c, 1))
            continue; /* no links */
        s = vec_push(&v);
        rc = s ? col_text(db, c, 1, a, &s->token) : ERR_NOMEM;
        if (rc == ERR_OK)
            rc = db->drv->i64(c, 2, &s->created_at);
        if (rc == ERR_OK && !is_null(db, c, 3)) {
            s->expires = true;
            rc = db->drv->i64(c, 3, &s->expires_at);
        }
        if (rc == ERR_OK)
            rc = db->drv->i64(c, 4, &s->views);
    }
    if (rc == ERR_NOT_FOUND && found)
        rc = vec_to_arena(&v, a, &list);
    if (rc == ERR_OK) {
        *out = list;
        *n = v.n;
    }
    db->drv->release(db, c);
    vec_free(&v);
    return rc;
}

enum err db_share_revoke(struct db *db, const char *user_id,
                         const unsigned char hash[DB_SHARE_HASH_LEN])
{
    int64_t changed = 0;
    enum err rc;

    if (!db || !hash || !is_uuid(user_id))
        return ERR_INVALID;
    const struct db_arg args[] = {ARG_B(hash, DB_SHARE_HASH_LEN), ARG_T(user_id)};

    rc = run_alone(db, Q_SHARE_REVOKE, args, NARGS(args), &changed);
    return rc == ERR_OK && changed == 0 ? ERR_NOT_FOUND : rc;
}

enum err db_share_open(struct db *db, const unsigned char hash[DB_SHARE_HASH_LEN], int64_t now_ms,
                       struct arena *a, struct drawing *out)
{
    const struct db_arg args[] = {ARG_B(hash, DB_SHARE_HASH_LEN), ARG_I(now_ms)};
    char drawing_id[ID_UUID_LEN], user_id[ID_UUID_LEN];
    struct db_conn *c = NULL;
    struct drawing d;
    enum err rc;

    if (!db || !hash || !a || !out)
        return ERR_INVALID;
    rc = write_transaction(db, &c);
    if (rc == ERR_OK)
        rc = db->drv->exec(c, Q_SHARE_OPEN, args, NARGS(args));
    if (rc == ERR_OK)
        rc = db->drv->step(c); /* no link, or expired: ERR_NOT_FOUND */
    if (rc == ERR_OK)
        rc = col_uuid(db, c, 0, drawing_id);
    if (rc == ERR_OK)
        rc = col_uuid(db, c, 1, user_id);
    db->drv->finish(c);
    /* the same transaction: a view is counted only with the drawing read */
    if (rc == ERR_OK)
        rc = load_drawing(db, c, user_id, drawing_id, false, a, &d);
    if (rc == ERR_OK)
        rc = commit(db, c);
    if (rc == ERR_OK)
        *out = d;
    db->drv->release(db, c);
    return rc;
}

/* ---- rate limits and idempotency keys ------------------------------------ */

enum err db_rate_hit(struct db *db, const char *user_id, int64_t minute, int64_t *count)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_I(minute)};

    if (!db || !is_uuid(user_id) || !count)
        return ERR_INVALID;
    return one_i64(db, Q_RATE_HIT, args, NARGS(args), count);
}

enum err db_rate_prune(struct db *db, int64_t before, int64_t *n)
{
    const struct db_arg args[] = {ARG_I(before)};

    if (!db)
        return ERR_INVALID;
    return run_alone(db, Q_RATE_PRUNE, args, NARGS(args), n);
}

enum err db_search_merge(struct db *db)
{
    if (!db)
        return ERR_INVALID;
    return run_alone(db, Q_SEARCH_MERGE, NULL, 0, NULL);
}

static bool idem_args_ok(const char *user_id, const char *key, const char *owner)
{
    return is_uuid(user_id) && key && *key && owner && *owner;
}

static enum err idem_read(struct db *db, const char *user_id, const char *key, struct arena *a,
                          struct db_idem *out)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_T(key)};
    struct db_idem r = {0};
    struct db_conn *c = NULL;
    int64_t status = 0;
    enum err rc = first_row_alone(db, Q_IDEM_GET, args, NARGS(args), &c);

    if (rc == ERR_OK)
        rc = col_text(db, c, 0, a, &r.fingerprint);
    if (rc == ERR_OK && !is_null(db, c, 1)) {
        r.done = true;
        rc = db->drv->i64(c, 1, &status);
        r.status = (int)status;
    }
    if (rc == ERR_OK)
        rc = col_text(db, c, 2, a, &r.content_type);
    if (rc == ERR_OK)
        rc = col_text(db, c, 3, a, &r.headers);
    if (rc == ERR_OK)
        rc = col_text(db, c, 4, a, &r.body);
    db->drv->release(db, c);
    if (rc == ERR_OK && !r.fingerprint)
        rc = ERR_INTERNAL;
    if (rc == ERR_OK)
        *out = r;
    return rc;
}

enum err db_idem_claim(struct db *db, const char *user_id, const char *key,
                       const char *fingerprint, const char *owner, int64_t now_ms,
                       int64_t lease_until_ms, int64_t expired_ms, struct arena *a,
                       struct db_idem *out)
{
    const struct db_arg args[] = {ARG_T(user_id),  ARG_T(key),          ARG_T(fingerprint),
                                  ARG_T(owner),    ARG_I(now_ms),       ARG_I(lease_until_ms),
                                  ARG_I(expired_ms)};
    enum err rc = ERR_NOT_FOUND;

    if (!db || !idem_args_ok(user_id, key, owner) || !fingerprint || !a || !out)
        return ERR_INVALID;
    /* a row read as gone was released in between: claim again (twice at most) */
    for (int tries = 0; tries < 2 && rc == ERR_NOT_FOUND; tries++) {
        struct db_conn *c = NULL;

        rc = first_row_alone(db, Q_IDEM_CLAIM, args, NARGS(args), &c);
        db->drv->release(db, c);
        if (rc != ERR_NOT_FOUND)
            return rc; /* ERR_OK: ours */
        rc = idem_read(db, user_id, key, a, out);
        if (rc == ERR_OK)
            return ERR_CONFLICT;
    }
    return rc == ERR_NOT_FOUND ? ERR_CONFLICT : rc;
}

enum err db_idem_complete(struct db *db, const char *user_id, const char *key, const char *owner,
                          int status, const char *content_type, const char *headers,
                          const char *body)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_T(key),          ARG_T(owner),
                                  ARG_I(status),  ARG_T(content_type), ARG_T(headers),
                                  ARG_T(body)};
    int64_t changed = 0;
    enum err rc;

    if (!db || !idem_args_ok(user_id, key, owner) || !body)
        return ERR_INVALID;
    rc = run_alone(db, Q_IDEM_COMPLETE, args, NARGS(args), &changed);
    return rc == ERR_OK && changed == 0 ? ERR_NOT_FOUND : rc;
}

enum err db_idem_release(struct db *db, const char *user_id, const char *key, const char *owner)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_T(key), ARG_T(owner)};

    if (!db || !idem_args_ok(user_id, key, owner))
        return ERR_INVALID;
    return run_alone(db, Q_IDEM_RELEASE, args, NARGS(args), NULL);
}

enum err db_idem_exists(struct db *db, const char *user_id, const char *key, int64_t after_ms,
                        bool *exists)
{
    const struct db_arg args[] = {ARG_T(user_id), ARG_T(key), ARG_I(after_ms)};
    int64_t one = 0;
    enum err rc;

    if (!db || !is_uuid(user_id) || !key || !exists)
        return ERR_INVALID;
    rc = one_i64(db, Q_IDEM_EXISTS, args, NARGS(args), &one);
    if (rc == ERR_OK || rc == ERR_NOT_FOUND) {
        *exists = rc == ERR_OK;
        rc = ERR_OK;
    }
    return rc;
}

enum err db_idem_prune(struct db *db, int64_t before_ms, int64_t *n)
{
    const struct db_arg args[] = {ARG_I(before_ms)};

    if (!db)
        return ERR_INVALID;
    return run_alone(db, Q_IDEM_PRUNE, args, NARGS(args), n);
}
