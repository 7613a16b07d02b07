/*
 * drawings.c - saving, editing and deleting drawings across storage and the
 * database, in the order that loses nothing: validate everything first, store the
 * objects (or keep them pending), then record the row with what is pending in one
 * transaction; undo the stored objects if recording fails. A deleted row's objects
 * are removed after the row is gone; one that cannot be (storage down after the
 * backend's retries) is queued as a delete job that the server's worker (jobs.c)
 * retries, and only if even that fails is it left as an orphan for `novadraw gc` -
 * never a row pointing at nothing.
 *
 * Thread-safe; holds no state of its own.
 */
#include "drawings.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/base64.h"
#include "util/log.h"

#define PNG_DATA_URL "data:image/png;base64,"

enum err drawings_check_tutorial(struct app *app, const char *tutorial_id, const char **why)
{
    enum err rc = tutorial_id ? db_tutorial_exists(app->db, tutorial_id) : ERR_OK;

    if (rc == ERR_NOT_FOUND) {
        *why = "Tutorial not found";
    } else if (rc != ERR_OK) {
        *why = "Database unavailable";
        rc = ERR_UNAVAILABLE;
    }
    return rc;
}

/* One of the two puts ended: stored, or (whatever the reason) kept pending. */
static void put_ended(struct stored_image *s, const char *key, enum err rc, bool *stored,
                      bool *pending)
{
    if (rc == ERR_OK) {
        *stored = true;
    } else {
        log_warn("drawings: storage refused %s (%s); kept in the database until it can be "
                 "stored",
                 key, err_name(rc));
        *pending = true;
    }
    if (atomic_fetch_sub(&s->left, 1) == 1)
        s->done(s->arg, ERR_OK);
}

static void on_png(void *arg, enum err rc)
{
    struct stored_image *s = arg;

    put_ended(s, s->key, rc, &s->key_stored, &s->key_pending);
}

static void on_thumb(void *arg, enum err rc)
{
    struct stored_image *s = arg;

    put_ended(s, s->thumb, rc, &s->thumb_stored, &s->thumb_pending);
}

enum err drawings_store(struct app *app, const char *user_id, enum storage_kind_of_object kind,
                        const struct ingest_result *img, int64_t now_ms, struct stored_image *out,
                        drawings_done_fn done, void *arg)
{
    enum err rc;

    memset(out, 0, sizeof(*out));
    if (!storage_key_new(user_id, kind, now_ms, out->key) ||
        !storage_key_new(user_id, STORAGE_THUMBNAIL, now_ms, out->thumb))
        return ERR_INTERNAL;
    out->img = img;
    out->app = app;
    out->done = done;
    out->arg = arg;
    atomic_store(&out->left, 2);
    /* a put that cannot even start ends at once, as refused */
    rc =
        storage_put_async(app->storage, out->key, img->png, img->png_len, "image/png", on_png, out);
    if (rc != ERR_OK)
        on_png(out, rc);
    rc = storage_put_async(app->storage, out->thumb, img->thumb, img->thumb_len, "image/webp",
                           on_thumb, out);
    if (rc != ERR_OK)
        on_thumb(out, rc);
    return ERR_OK;
}

static void on_undone(void *arg, enum err rc)
{
    char *key = arg;

    if (rc != ERR_OK)
        log_warn("drawings: could not delete %s (%s); `novadraw gc` will find it", key,
                 err_name(rc));
    free(key);
}

static void unstore_one(struct app *app, const char *key, bool *stored)
{
    char *copy;

    if (!*stored)
        return;
    *stored = false;
    copy = strdup(key);
    if (!copy || storage_del_async(app->storage, key, on_undone, copy) != ERR_OK) {
        log_warn("drawings: could not delete %s; `novadraw gc` will find it", key);
        free(copy);
    }
}

void drawings_unstore(struct app *app, struct stored_image *s)
{
    if (!s)
        return;
    unstore_one(app, s->key, &s->key_stored);
    unstore_one(app, s->thumb, &s->thumb_stored);
}

/* What of s is pending, appended to p (room for two more) as db_pending entries. */
static size_t add_pending(const struct stored_image *s, struct db_pending *p)
{
    size_t n = 0;

    if (s->key_pending)
        p[n++] = (struct db_pending){s->key, "image/png", s->img->png, s->img->png_len};
    if (s->thumb_pending)
        p[n++] = (struct db_pending){s->thumb, "image/webp", s->img->thumb, s->img->thumb_len};
    return n;
}

/* A failed record's reason for the client: the database, or a row gone meanwhile. */
static void record_failed(struct app *app, enum err rc, struct stored_image *a,
                          struct stored_image *b, const char *not_found, const char **why)
{
    drawings_unstore(app, a);
    drawings_unstore(app, b);
    if (why)
        *why = rc == ERR_NOT_FOUND ? not_found : "Database unavailable";
}

enum err drawings_record_new(struct app *app, struct drawing *d, struct stored_image *orig,
                             struct stored_image *edit, const char **why)
{
    struct db_pending pending[4];
    size_t n = add_pending(orig, pending);
    enum err rc;

    d->original_key = orig->key;
    d->thumbnail_key = orig->thumb;
    if (d->n_edits > 0) {
        d->edits[0].image_key = edit->key;
        d->edits[0].thumbnail_key = edit->thumb;
        n += add_pending(edit, pending + n);
    }
    /* the drawing, its edit and what is pending: one transaction */
    rc = db_drawing_insert(app->db, d, pending, n);
    if (rc != ERR_OK)
        record_failed(app, rc, orig, d->n_edits ? edit : NULL, "Tutorial not found", why);
    return rc;
}

enum err drawings_record_edit(struct app *app, const char *user_id, const char *drawing_id,
                              struct edit *e, struct stored_image *img, const char **why)
{
    struct db_pending pending[2];
    size_t n = add_pending(img, pending);
    enum err rc;

    e->image_key = img->key;
    e->thumbnail_key = img->thumb;
    rc = db_edit_append(app->db, user_id, drawing_id, e, pending, n);
    if (rc != ERR_OK)
        record_failed(app, rc, img, NULL, "Drawing not found", why);
    return rc;
}

/* A data: URL's PNG, for rows written before the pending table (migration 3). */
static enum err legacy_data_url(const char *url, void **png, size_t *len)
{
    const char *b64 = url + sizeof(PNG_DATA_URL) - 1;
    unsigned char *out = NULL;
    enum err rc;

    if (strncmp(url, PNG_DATA_URL, sizeof(PNG_DATA_URL) - 1) != 0)
        return ERR_INTERNAL;
    rc = base64_decode(b64, strlen(b64), strlen(b64), &out, len);
    if (rc == ERR_OK)
        *png = out;
    return rc;
}

/* drawings_image_read's reading from storage: maps the outcome, then hands it on. */
struct image_read {
    storage_got_fn got;
    void *arg;
    char key[STORAGE_KEY_MAX];
};

static void on_image(void *arg, enum err rc, void *png, size_t len)
{
    struct image_read *r = arg;
    storage_got_fn got = r->got;
    void *got_arg = r->arg;

    if (rc != ERR_OK && rc != ERR_NOMEM) {
        log_warn("drawings: cannot read the image %s (%s)", r->key, err_name(rc));
        /* a row whose object is missing is our fault (500), not a reason to retry */
        if (rc != ERR_UNAVAILABLE)
            rc = ERR_INTERNAL;
    }
    free(r);
    got(got_arg, rc, png, len);
}

/* Hands bytes already in memory to got, as a copy it owns. */
static void give_copy(const void *bytes, size_t len, storage_got_fn got, void *arg)
{
    void *copy = malloc(len ? len : 1);

    if (copy)
        memcpy(copy, bytes, len);
    got(arg, copy ? ERR_OK : ERR_NOMEM, copy, copy ? len : 0);
}

enum err drawings_image_find(struct app *app, const char *user_id, const char *drawing_id,
                             int64_t which, struct arena *a, struct drawing_image *out,
                             const char **why)
{
    struct drawing d;
    enum err rc = db_drawing_get(app->db, user_id, drawing_id, a, &d);
    int64_t number;

    if (rc == ERR_NOT_FOUND)
        *why = "Drawing not found";
    if (rc != ERR_OK)
        return rc;
    number = which == DRAWINGS_EDIT_LATEST ? (int64_t)d.n_edits : which;
    if (number < 0 || (uint64_t)number > d.n_edits ||
        (which == DRAWINGS_EDIT_LATEST && d.n_edits == 0)) {
        *why = "Edit not found";
        return ERR_NOT_FOUND;
    }
    out->number = number;
    out->key = number == 0 ? d.original_key : d.edits[number - 1].image_key;
    out->pending = number == 0 ? d.original_pending : d.edits[number - 1].image_pending;
    return ERR_OK;
}

enum err drawings_image_file(struct app *app, const struct drawing_image *img,
                             struct storage_file *out)
{
    if (img->pending || strncmp(img->key, "data:", 5) == 0)
        return ERR_UNSUPPORTED;
    return storage_open_file(app->storage, img->key, out);
}

enum err drawings_image_read(struct app *app, const struct drawing_image *img,
                             storage_got_fn got, void *arg)
{
    struct arena *a = NULL;
    struct image_read *r = NULL;
    struct db_pending p;
    void *png = NULL;
    size_t len = 0;
    enum err rc = ERR_NOT_FOUND;

    if (strncmp(img->key, "data:", 5) == 0) {
        rc = legacy_data_url(img->key, &png, &len);
        if (rc == ERR_OK)
            got(arg, ERR_OK, png, len);
        return rc;
    }
    if (img->pending) {
        a = arena_new();
        rc = a ? db_pending_get(app->db, img->key, a, &p) : ERR_NOMEM;
    }
    if (rc == ERR_OK) {
        give_copy(p.bytes, p.len, got, arg);
        goto out;
    }
    if (rc != ERR_NOT_FOUND) /* not pending (any more): in storage */
        goto out;
    r = calloc(1, sizeof(*r));
    rc = r && strlen(img->key) < sizeof(r->key) ? ERR_OK : ERR_NOMEM;
    if (rc != ERR_OK)
        goto out;
    r->got = got;
    r->arg = arg;
    strcpy(r->key, img->key);
    rc = storage_get_async(app->storage, img->key, on_image, r);
    if (rc == ERR_OK)
        r = NULL; /* on_image frees it */
    if (rc == ERR_NOT_FOUND) {
        log_warn("drawings: a row names %s, which is not a key", img->key);
        rc = ERR_INTERNAL;
    }
out:
    free(r);
    arena_free(a);
    return rc;
}

enum err drawings_original(struct app *app, const char *user_id, const char *drawing_id,
                           storage_got_fn got, void *arg, const char **why)
{
    struct arena *a = arena_new();
    struct drawing_image img;
    enum err rc = a ? drawings_image_find(app, user_id, drawing_id, 0, a, &img, why) : ERR_NOMEM;

    if (rc == ERR_OK)
        rc = drawings_image_read(app, &img, got, arg);
    arena_free(a);
    return rc;
}

/*
 * Deleting the objects of deleted rows: every delete is started at once (with S3 they
 * wait on the HTTP client's loop together, so n objects take one round trip, and one
 * deadline when storage is down, not n), then this thread waits for them all; each
 * one storage refused is queued as a delete job. The batch lives on the waiting
 * thread's stack; a callback touches it only under mu, and last.
 */
struct object_del {
    struct del_batch *batch;
    const char *key; /* borrowed from the caller's records */
    enum err rc;
};

struct del_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t left; /* under mu: deletes not ended, plus one while still starting them */
};

static void on_object_deleted(void *arg, enum err rc)
{
    struct object_del *o = arg;
    struct del_batch *b = o->batch;

    pthread_mutex_lock(&b->mu);
    o->rc = rc;
    if (--b->left == 0)
        pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Pending and data: images were never stored: their bytes went with the row. */
static bool is_stored(const char *key, bool pending)
{
    return key && !pending && strncmp(key, "data:", 5) != 0;
}

/* Adds d's stored objects to objs (room for 2 + 2 * n_edits more); returns how many. */
static size_t stored_objects(const struct drawing *d, struct object_del *objs)
{
    size_t n = 0;

    if (is_stored(d->original_key, d->original_pending))
        objs[n++].key = d->original_key;
    if (is_stored(d->thumbnail_key, d->thumbnail_pending))
        objs[n++].key = d->thumbnail_key;
    for (size_t i = 0; i < d->n_edits; i++) {
        if (is_stored(d->edits[i].image_key, d->edits[i].image_pending))
            objs[n++].key = d->edits[i].image_key;
        if (is_stored(d->edits[i].thumbnail_key, d->edits[i].thumbnail_pending))
            objs[n++].key = d->edits[i].thumbnail_key;
    }
    return n;
}

/* A delete that failed: queued for the jobs worker, or left to `novadraw gc`. */
static void queue_delete(struct app *app, const char *key)
{
    enum err rc = db_job_add(app->db, JOB_DELETE, key);

    if (rc == ERR_OK)
        log_warn("drawings: could not delete object %s; queued for retry", key);
    else
        log_warn("drawings: could not delete object %s nor queue it (%s); `novadraw gc` will "
                 "find it",
                 key, err_name(rc));
}

/* Deletes the stored objects of the n deleted drawings ds, or queues their deletion. */
static void delete_objects(struct app *app, const struct drawing *ds, size_t n)
{
    struct del_batch b = {.left = 1};
    struct object_del *objs;
    size_t cap = 0, n_objs = 0;

    for (size_t i = 0; i < n; i++)
        cap += 2 + 2 * ds[i].n_edits;
    objs = calloc(cap ? cap : 1, sizeof(*objs));
    if (!objs) {
        log_error("drawings: out of memory deleting the objects of %zu drawings; `novadraw gc` "
                  "will find them",
                  n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        n_objs += stored_objects(&ds[i], objs + n_objs);
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    for (size_t i = 0; i < n_objs; i++) {
        enum err rc;

        objs[i].batch = &b;
        pthread_mutex_lock(&b.mu);
        b.left++;
        pthread_mutex_unlock(&b.mu);
        rc = storage_del_async(app->storage, objs[i].key, on_object_deleted, &objs[i]);
        if (rc != ERR_OK) /* not started: ended at once, as refused */
            on_object_deleted(&objs[i], rc);
    }
    pthread_mutex_lock(&b.mu);
    b.left--; /* all started */
    while (b.left > 0)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    for (size_t i = 0; i < n_objs; i++) {
        if (objs[i].rc != ERR_OK)
            queue_delete(app, objs[i].key);
    }
    free(objs);
}

enum err drawings_delete(struct app *app, const char *user_id, const char *id, struct arena *a)
{
    struct drawing d;
    enum err rc = db_drawing_delete(app->db, user_id, id, a, &d);

    if (rc != ERR_OK)
        return rc;
    delete_objects(app, &d, 1);
    return ERR_OK;
}

enum err drawings_delete_many(struct app *app, const char *user_id, const char *const *ids,
                              size_t n, struct arena *a, bool *deleted)
{
    struct drawing *ds = NULL;
    size_t n_ds = 0;
    enum err rc = db_drawings_delete_many(app->db, user_id, ids, n, a, &ds, &n_ds);

    if (rc != ERR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        deleted[i] = false;
        for (size_t k = 0; k < n_ds && !deleted[i]; k++)
            deleted[i] = strcmp(ids[i], ds[k].id) == 0;
    }
    delete_objects(app, ds, n_ds);
    return ERR_OK;
}

char *drawings_url(const struct app *app, const char *key, bool pending,
                   const struct ingest_result *inline_png, struct arena *a)
{
    char *url;

    if (!key)
        return NULL;
    if (!pending)
        return storage_url(app->storage, key, a);
    if (!inline_png)
        return arena_printf(a, "%s/media/pending/%s", app->cfg->public_base_url, key);
    url = arena_alloc(a, sizeof(PNG_DATA_URL) - 1 + base64_encoded_len(inline_png->png_len) + 1);
    if (url) {
        memcpy(url, PNG_DATA_URL, sizeof(PNG_DATA_URL) - 1);
        base64_encode_into(inline_png->png, inline_png->png_len, url + sizeof(PNG_DATA_URL) - 1);
    }
    return url;
}

/* ---- entity tags ------------------------------------------------------- */

/* Bumped whenever the API's JSON for a drawing changes shape: old tags then lapse. */
#define ETAG_FORMAT "gallery-1"

/* FNV-1a over s and its NUL (fields stay apart), h the running hash. */
static uint64_t fnv(uint64_t h, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    do {
        h ^= *p;
        h *= 0x100000001b3ULL;
    } while (*p++);
    return h;
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

char *drawings_etag(const struct app *app, const char *user_id, int64_t version, const char *what,
                    struct arena *a)
{
    const struct config *cfg = app->cfg;
    bool presigned = cfg->storage_kind == STORAGE_S3 && cfg->storage_acl &&
                     strcmp(cfg->storage_acl, "private") == 0;
    long window = 0;
    char num[64];
    uint64_t h = 0xcbf29ce484222325ULL;

    if (presigned) {
        long ttl = cfg->signed_url_ttl > 0 ? cfg->signed_url_ttl : 3600; /* as s3.c signs */
        long half = ttl / 2 > 0 ? ttl / 2 : 1;
        window = (long)(time(NULL) / half);
    }
    snprintf(num, sizeof(num), "%lld/%ld", (long long)version, window);
    h = fnv(h, ETAG_FORMAT);
    h = fnv(h, user_id);
    h = fnv(h, num);
    h = fnv(h, what);
    h = fnv(h, cfg->public_base_url);
    h = fnv(h, cfg->storage_kind == STORAGE_S3 ? "s3" : "local");
    h = fnv(h, cfg->storage_acl);
    h = fnv(h, cfg->spaces_public_url);
    h = fnv(h, cfg->storage_endpoint_url);
    h = fnv(h, cfg->spaces_bucket);
    /* 64 bits: two states of one user's query colliding is a 2^-64 chance */
    return arena_printf(a, "%s\"%016llx\"", presigned ? "W/" : "", (unsigned long long)mix(h));
}
