/*
 * db.c - the backend name table, the argument-checking wrappers every caller goes
 * through, and the "seen users" cache behind db_user_ensure.
 *
 * Owns struct user_cache (allocated by db_open, freed by db_close). The wrappers
 * keep no state of their own; the cache is guarded by its own mutex, so every
 * function here is safe from any thread, as db.h promises.
 */
#include "db.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timefmt.h"

#define DB_LIST_MAX 1000

/*
 * The cache: an open-addressing (linear probing) hash set of 16-byte user ids. It
 * only ever grows until it is half full, then it is emptied and starts again, so
 * probe sequences stay short and memory stays bounded. Forgetting a user is
 * harmless: the next db_user_ensure runs one idempotent upsert.
 */
#define USER_CACHE_SLOTS 65536u /* a power of two */
#define USER_CACHE_MAX (USER_CACHE_SLOTS / 2)

struct user_slot {
    unsigned char id[16];
    unsigned char full;
};

struct user_cache {
    pthread_mutex_t mu;
    size_t used;
    uint64_t seed[2]; /* random per process, so ids cannot be picked to collide */
    struct user_slot *slots;
};

static const struct {
    enum db_kind kind;
    const struct db_ops *ops; /* NULL: not built yet */
} backends[] = {
    {DB_SQLITE, &db_sqlite_ops},
    {DB_POSTGRES, &db_postgres_ops},
};

/* ---- the user cache ---------------------------------------------------- */

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Canonical UUID text (checked by the caller) to its 16 bytes. */
static bool uuid_to_bytes(const char *s, unsigned char out[16])
{
    size_t k = 0;

    for (size_t i = 0; i < 36; i++) {
        int hi, lo;

        if (i == 8 || i == 13 || i == 18 || i == 23)
            continue;
        hi = hex_nibble(s[i]);
        lo = hex_nibble(s[i + 1]);
        if (hi < 0 || lo < 0 || k >= 16)
            return false;
        out[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    return k == 16;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static size_t user_cache_slot(const struct user_cache *uc, const unsigned char id[16])
{
    uint64_t lo, hi;

    memcpy(&lo, id, 8);
    memcpy(&hi, id + 8, 8);
    return (size_t)(mix64(mix64(lo ^ uc->seed[0]) ^ hi ^ uc->seed[1]) & (USER_CACHE_SLOTS - 1));
}

static enum err user_cache_new(struct user_cache **out)
{
    struct user_cache *uc = calloc(1, sizeof(*uc));
    enum err rc = ERR_NOMEM;

    if (!uc)
        goto out;
    uc->slots = calloc(USER_CACHE_SLOTS, sizeof(*uc->slots));
    if (!uc->slots)
        goto out;
    if (!id_random(uc->seed, sizeof(uc->seed))) {
        rc = ERR_INTERNAL;
        goto out;
    }
    if (pthread_mutex_init(&uc->mu, NULL) != 0) {
        rc = ERR_INTERNAL;
        goto out;
    }
    *out = uc;
    uc = NULL;
    rc = ERR_OK;
out:
    if (uc)
        free(uc->slots);
    free(uc);
    return rc;
}

static void user_cache_free(struct user_cache *uc)
{
    if (!uc)
        return;
    pthread_mutex_destroy(&uc->mu);
    free(uc->slots);
    free(uc);
}

/* True if id is in the set. */
static bool user_cache_has(struct user_cache *uc, const unsigned char id[16])
{
    size_t i = user_cache_slot(uc, id);
    bool found = false;

    pthread_mutex_lock(&uc->mu);
    for (;;) {
        const struct user_slot *s = &uc->slots[i];
        if (!s->full)
            break;
        if (memcmp(s->id, id, 16) == 0) {
            found = true;
            break;
        }
        i = (i + 1) & (USER_CACHE_SLOTS - 1);
    }
    pthread_mutex_unlock(&uc->mu);
    return found;
}

static void user_cache_add(struct user_cache *uc, const unsigned char id[16])
{
    size_t i = user_cache_slot(uc, id);

    pthread_mutex_lock(&uc->mu);
    if (uc->used >= USER_CACHE_MAX) {
        memset(uc->slots, 0, USER_CACHE_SLOTS * sizeof(*uc->slots));
        uc->used = 0;
    }
    /* never more than half full, so an empty slot is always reached */
    for (;;) {
        struct user_slot *s = &uc->slots[i];
        if (!s->full) {
            memcpy(s->id, id, 16);
            s->full = 1;
            uc->used++;
            break;
        }
        if (memcmp(s->id, id, 16) == 0)
            break; /* another thread got here first */
        i = (i + 1) & (USER_CACHE_SLOTS - 1);
    }
    pthread_mutex_unlock(&uc->mu);
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

static bool page_is_valid(int64_t offset, int64_t limit)
{
    return offset >= 0 && limit >= 1 && limit <= DB_LIST_MAX;
}

/* ---- open and close ---------------------------------------------------- */

enum err db_open(const struct config *cfg, struct db **out)
{
    const struct db_ops *ops = NULL;
    struct user_cache *uc = NULL;
    struct db *db = NULL;
    enum err rc = ERR_INVALID;

    if (!cfg || !out)
        goto out;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (backends[i].kind == cfg->db_kind)
            ops = backends[i].ops;
    }
    if (!ops) {
        log_error("db: this build has no backend for the configured DATABASE_URL");
        rc = ERR_UNSUPPORTED;
        goto out;
    }
    rc = user_cache_new(&uc);
    if (rc != ERR_OK)
        goto out;
    rc = ops->open(cfg, &db);
    if (rc != ERR_OK)
        goto out;
    db->seen = uc;
    uc = NULL;
    *out = db;
out:
    user_cache_free(uc);
    return rc;
}

void db_close(struct db *db)
{
    struct user_cache *uc;

    if (!db)
        return;
    uc = db->seen;
    db->ops->close(db);
    user_cache_free(uc);
}

enum err db_migrate(struct db *db)
{
    if (!db)
        return ERR_INVALID;
    return db->ops->migrate(db);
}

enum err db_ping(struct db *db)
{
    if (!db)
        return ERR_INVALID;
    return db->ops->ping(db);
}

/* ---- users ------------------------------------------------------------- */

enum err db_user_ensure(struct db *db, const char *user_id)
{
    unsigned char raw[16];
    enum err rc;

    if (!db || !is_uuid(user_id) || !uuid_to_bytes(user_id, raw))
        return ERR_INVALID;
    if (db->seen && user_cache_has(db->seen, raw))
        return ERR_OK;
    rc = db->ops->user_ensure(db, user_id);
    if (rc == ERR_OK && db->seen)
        user_cache_add(db->seen, raw);
    return rc;
}

/* ---- tutorials --------------------------------------------------------- */

enum err db_tutorial_add(struct db *db, const struct tutorial *t)
{
    if (!db || !t || !is_uuid(t->id) || !t->title)
        return ERR_INVALID;
    return db->ops->tutorial_add(db, t);
}

enum err db_tutorial_exists(struct db *db, const char *id)
{
    if (!db)
        return ERR_INVALID;
    if (!is_uuid(id))
        return ERR_NOT_FOUND;
    return db->ops->tutorial_exists(db, id);
}

enum err db_tutorial_list(struct db *db, struct arena *a, struct tutorial **out, size_t *n)
{
    if (!db || !a || !out || !n)
        return ERR_INVALID;
    return db->ops->tutorial_list(db, a, out, n);
}

/* ---- drawings ---------------------------------------------------------- */

enum err db_drawing_insert(struct db *db, const struct drawing *d)
{
    if (!db || !d || !is_uuid(d->id) || !is_uuid(d->user_id) || !d->original_key)
        return ERR_INVALID;
    if (d->tutorial_id && !is_uuid(d->tutorial_id))
        return ERR_INVALID;
    if (d->n_edits > 0 && !d->edits)
        return ERR_INVALID;
    for (size_t i = 0; i < d->n_edits; i++) {
        if (!edit_is_valid(&d->edits[i]))
            return ERR_INVALID;
    }
    return db->ops->drawing_insert(db, d);
}

enum err db_drawing_get(struct db *db, const char *user_id, const char *id, struct arena *a,
                        struct drawing *out)
{
    if (!db || !a || !out)
        return ERR_INVALID;
    if (!is_uuid(user_id) || !is_uuid(id))
        return ERR_NOT_FOUND;
    return db->ops->drawing_get(db, user_id, id, a, out);
}

enum err db_drawing_list(struct db *db, const char *user_id, int64_t offset, int64_t limit,
                         struct arena *a, struct drawing **out, size_t *n, int64_t *total)
{
    /* user_id comes from a verified token, so a malformed one is a caller bug */
    if (!db || !a || !out || !n || !total || !is_uuid(user_id))
        return ERR_INVALID;
    if (!page_is_valid(offset, limit))
        return ERR_INVALID;
    return db->ops->drawing_list(db, user_id, offset, limit, a, out, n, total);
}

enum err db_drawing_delete(struct db *db, const char *user_id, const char *id, struct arena *a,
                           struct drawing *out)
{
    if (!db || !a || !out)
        return ERR_INVALID;
    if (!is_uuid(user_id) || !is_uuid(id))
        return ERR_NOT_FOUND;
    return db->ops->drawing_delete(db, user_id, id, a, out);
}

enum err db_edit_append(struct db *db, const char *user_id, const char *drawing_id,
                        const struct edit *e)
{
    if (!db || !edit_is_valid(e))
        return ERR_INVALID;
    if (!is_uuid(user_id) || !is_uuid(drawing_id))
        return ERR_NOT_FOUND;
    return db->ops->edit_append(db, user_id, drawing_id, e);
}

enum err db_stats(struct db *db, const char *user_id, struct drawing_stats *out)
{
    if (!db || !out || !is_uuid(user_id))
        return ERR_INVALID;
    return db->ops->stats(db, user_id, out);
}

/* ---- jobs -------------------------------------------------------------- */

#define JOB_KIND_MAX 32
#define JOB_ERROR_MAX 1000

enum err db_job_add_ref(struct db *db, const char *kind, const char *key, const char *ref)
{
    if (!db || !kind || !*kind || strlen(kind) > JOB_KIND_MAX || !key || !*key)
        return ERR_INVALID;
    return db->ops->job_add(db, kind, key, ref, time_now_ms());
}

enum err db_job_add(struct db *db, const char *kind, const char *key)
{
    return db_job_add_ref(db, kind, key, NULL);
}

enum err db_job_claim(struct db *db, int64_t now_ms, int64_t lease_ms, struct arena *a,
                      struct db_job *out)
{
    if (!db || !a || !out || now_ms < 0 || lease_ms <= 0 || lease_ms > INT64_MAX - now_ms)
        return ERR_INVALID;
    return db->ops->job_claim(db, now_ms, lease_ms, a, out);
}

enum err db_job_done(struct db *db, int64_t id)
{
    if (!db || id <= 0)
        return ERR_INVALID;
    return db->ops->job_done(db, id);
}

enum err db_job_retry(struct db *db, int64_t id, int64_t next_run_at, const char *error)
{
    char *cut = NULL;
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
    rc = db->ops->job_retry(db, id, next_run_at, error);
    free(cut);
    return rc;
}

enum err db_keys_referenced(struct db *db, db_key_fn fn, void *ctx)
{
    if (!db || !fn)
        return ERR_INVALID;
    return db->ops->keys_referenced(db, fn, ctx);
}

/* ---- the storage fallback ---------------------------------------------- */

static bool is_data_url(const char *s)
{
    return s && strncmp(s, "data:", 5) == 0;
}

enum err db_data_url_get(struct db *db, const char *drawing_id, bool original, struct arena *a,
                         char **out)
{
    if (!db || !a || !out)
        return ERR_INVALID;
    if (!is_uuid(drawing_id))
        return ERR_NOT_FOUND;
    return db->ops->data_url_get(db, drawing_id, original, a, out);
}

enum err db_data_url_swap(struct db *db, const char *drawing_id, bool original,
                          const char *data_url, const char *key)
{
    if (!db || !is_data_url(data_url) || !key || !*key || is_data_url(key))
        return ERR_INVALID;
    if (!is_uuid(drawing_id))
        return ERR_NOT_FOUND;
    return db->ops->data_url_swap(db, drawing_id, original, data_url, key);
}
