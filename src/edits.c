/*
 * edits.c - the edit pipeline's steps (see edits.h for the picture). Each step
 * is a function that runs on one pool and queues the next; a job moves between
 * threads only through a pool's queue (whose lock orders its memory), so a job
 * is touched by one thread at a time, except for the two branches of a new
 * drawing, which write disjoint fields and meet in join().
 */
#include "edits.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio/decode.h"
#include "drawings.h"
#include "imaging/editor.h"
#include "speech/transcriber.h"
#include "util/base64.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/timefmt.h"

#define IO_THREADS 8
#define WHY_MAX 1024 /* the local editor's refusal lists its vocabulary */

struct edits {
    struct app *app;
    struct pool *cpu, *io;
    struct httpc *http;
    struct editor *editor;
    struct transcriber *transcriber; /* NULL if none could be loaded */
    atomic_long in_flight;
    long max_in_flight;
    atomic_bool closing;
};

struct job {
    struct edits *e;
    struct edit_order o;
    char *heard; /* the transcription (malloc'd); o.prompt points at it */
    edit_done_fn done;
    void *arg;
    int64_t start_ns, now_ms;

    struct ingest_result orig; /* a new drawing: the normalised upload */
    void *saved_png;           /* a saved drawing: its stored original (malloc'd) */
    size_t saved_len;
    struct ingest_result result; /* the edited image, normalised */

    atomic_int branches; /* a new drawing: 2, counted down by join() */
    enum err orig_rc;    /* storing the original (branch 1) */
    enum err edit_rc;    /* editing and storing the edit (branch 2) */
    char edit_why[WHY_MAX];

    char drawing_id[ID_UUID_LEN];
    char orig_key[STORAGE_KEY_MAX], orig_thumb[STORAGE_KEY_MAX];
    char edit_key[STORAGE_KEY_MAX], edit_thumb[STORAGE_KEY_MAX];
    bool orig_stored, edit_stored;
    /* the storage fallback: an image storage refused after its retries, as a data: URL
     * (malloc'd) that the row keeps until an "upload" job stores it under *_key */
    char *orig_data, *edit_data;
};

#define DATA_URL_PREFIX "data:image/png;base64,"

/* ---- the end of a job ------------------------------------------------------------- */

static void job_free(struct job *j)
{
    ingest_result_free(&j->orig);
    ingest_result_free(&j->result);
    free(j->saved_png);
    free(j->heard);
    free(j->orig_data);
    free(j->edit_data);
    free(j);
}

static void delete_stored(struct job *j, bool original, bool edit)
{
    struct storage *st = j->e->app->storage;

    if (original && j->orig_stored) {
        storage_del(st, j->orig_key);
        storage_del(st, j->orig_thumb);
        j->orig_stored = false;
    }
    if (edit && j->edit_stored) {
        storage_del(st, j->edit_key);
        storage_del(st, j->edit_thumb);
        j->edit_stored = false;
    }
}

/* Tells the caller how it went and frees the job. with_drawing: j->drawing_id exists. */
static void finish(struct job *j, enum err rc, const char *why, bool with_drawing)
{
    struct edits *e = j->e;
    struct arena *a = NULL;
    struct edit_outcome o = {
        .rc = rc,
        .why = why,
        .drawing_id = with_drawing ? j->drawing_id : NULL,
        .prompt = j->o.prompt,
        .transcription = j->heard,
        .seconds = (double)(time_mono_ns() - j->start_ns) / 1e9,
    };

    if (rc == ERR_OK) {
        a = arena_new();
        o.result_url =
            a ? storage_url(e->app->storage, j->edit_data ? j->edit_data : j->edit_key, a) : NULL;
        if (!o.result_url) {
            o.rc = ERR_NOMEM;
            o.why = NULL;
        }
    }
    j->done(j->arg, &o);
    arena_free(a);
    job_free(j);
    atomic_fetch_sub(&e->in_flight, 1);
}

static void set_edit_error(struct job *j, enum err rc, const char *why)
{
    j->edit_rc = rc;
    snprintf(j->edit_why, sizeof(j->edit_why), "%s", why ? why : "");
}

/* Ingests the editor's image like an upload: untrusted bytes, same limits. */
static enum err ingest_edited(struct job *j, enum err rc, const void *out, size_t len,
                              const char *why)
{
    const char *ingest_why = NULL;

    if (rc != ERR_OK) {
        set_edit_error(j, rc, why);
        return rc;
    }
    rc = ingest_image(out, len, &j->e->app->image_limits, &j->result, &ingest_why);
    if (rc != ERR_OK) {
        log_warn("edits: the %s editor returned an image we cannot use (%s)",
                 j->e->editor->ops->name, err_name(rc));
        set_edit_error(j, ERR_UPSTREAM, "The editor returned an image that could not be used");
        return ERR_UPSTREAM;
    }
    return ERR_OK;
}

/* The PNG as a data: URL, malloc'd into *out. */
static enum err data_url_of(const struct ingest_result *img, char **out)
{
    size_t n = sizeof(DATA_URL_PREFIX) - 1;
    char *url = malloc(n + base64_encoded_len(img->png_len) + 1);

    if (!url)
        return ERR_NOMEM;
    memcpy(url, DATA_URL_PREFIX, n);
    base64_encode_into(img->png, img->png_len, url + n);
    *out = url;
    return ERR_OK;
}

/* Stores an image, or, when storage stays unavailable after the backend's retries,
 * keeps it as a data: URL in *data (key still names where it will go). */
static enum err store_or_keep(struct job *j, enum storage_kind_of_object kind,
                              const struct ingest_result *img, char key[STORAGE_KEY_MAX],
                              char thumb[STORAGE_KEY_MAX], bool *stored, char **data)
{
    enum err rc = drawings_store_image(j->e->app, j->o.user_id, kind, img, j->now_ms, key, thumb);

    if (rc == ERR_OK) {
        *stored = true;
        return ERR_OK;
    }
    if (rc != ERR_UNAVAILABLE || !key[0])
        return rc;
    rc = data_url_of(img, data);
    if (rc == ERR_OK)
        log_warn("edits: storage unavailable; %s kept in its row until it can be uploaded", key);
    return rc;
}

/* Queues the upload of an image kept as a data: URL; it stays served from the row. */
static void queue_upload(struct job *j, const char *key)
{
    enum err rc = db_job_add_ref(j->e->app->db, "upload", key, j->drawing_id);

    if (rc != ERR_OK)
        log_warn("edits: cannot queue the upload of %s (%s); it stays in its row", key,
                 err_name(rc));
}

static enum err store_edit(struct job *j)
{
    enum err rc = store_or_keep(j, STORAGE_EDITED, &j->result, j->edit_key, j->edit_thumb,
                                &j->edit_stored, &j->edit_data);

    if (rc == ERR_UNAVAILABLE)
        set_edit_error(j, rc, "Storage unavailable");
    else if (rc != ERR_OK)
        set_edit_error(j, rc, NULL);
    return rc;
}

/* ---- a new drawing ---------------------------------------------------------------- */

static void new_record(void *arg)
{
    struct job *j = arg;
    struct edits *e = j->e;
    struct drawing d;
    struct edit ed;
    enum err rc;

    if (j->orig_rc != ERR_OK) {
        delete_stored(j, true, true);
        finish(j, j->orig_rc, j->orig_rc == ERR_UNAVAILABLE ? "Storage unavailable" : NULL,
               false);
        return;
    }
    memset(&d, 0, sizeof(d));
    memcpy(d.id, j->drawing_id, ID_UUID_LEN);
    memcpy(d.user_id, j->o.user_id, ID_UUID_LEN);
    d.tutorial_id = (char *)j->o.tutorial_id;
    d.original_key = j->orig_data ? j->orig_data : j->orig_key;
    d.thumbnail_key = j->orig_data ? NULL : j->orig_thumb;
    d.created_at = d.updated_at = j->now_ms;
    if (j->edit_rc == ERR_OK) {
        ed.image_key = j->edit_data ? j->edit_data : j->edit_key;
        ed.thumbnail_key = j->edit_data ? NULL : j->edit_thumb;
        ed.prompt = (char *)j->o.prompt;
        ed.source = (char *)(j->heard ? "audio" : "text");
        ed.created_at = j->now_ms;
        d.edits = &ed;
        d.n_edits = 1;
    }
    rc = db_drawing_insert(e->app->db, &d); /* the drawing and its edit: one transaction */
    if (rc != ERR_OK) {
        delete_stored(j, true, true);
        finish(j, rc, rc == ERR_NOT_FOUND ? "Tutorial not found" : "Database unavailable", false);
        return;
    }
    if (j->orig_data)
        queue_upload(j, j->orig_key);
    if (j->edit_rc == ERR_OK && j->edit_data)
        queue_upload(j, j->edit_key);
    if (j->edit_rc != ERR_OK) {
        /* the drawing is saved; the error names it */
        delete_stored(j, false, true);
        finish(j, j->edit_rc, j->edit_why[0] ? j->edit_why : NULL, true);
        return;
    }
    finish(j, ERR_OK, NULL, true);
}

/* Where the two branches meet: the second to arrive records the result. */
static void join(struct job *j)
{
    if (atomic_fetch_sub(&j->branches, 1) != 1)
        return;
    pool_continue(j->e->io, new_record, j);
}

static void new_store_original(void *arg)
{
    struct job *j = arg;

    j->orig_rc = store_or_keep(j, STORAGE_ORIGINAL, &j->orig, j->orig_key, j->orig_thumb,
                               &j->orig_stored, &j->orig_data);
    join(j);
}

static void new_store_edit(void *arg)
{
    struct job *j = arg;

    store_edit(j);
    join(j);
}

static void new_edited(void *arg, enum err rc, const void *out, size_t len, const char *why)
{
    struct job *j = arg;

    if (ingest_edited(j, rc, out, len, why) != ERR_OK) {
        join(j);
        return;
    }
    pool_continue(j->e->io, new_store_edit, j);
}

/* Branch 1, on the cpu pool: the original's thumbnail, then its storage on io. */
static void new_thumbnail_original(void *arg)
{
    struct job *j = arg;

    j->orig_rc = ingest_add_thumbnail(&j->orig);
    if (j->orig_rc != ERR_OK) {
        join(j);
        return;
    }
    pool_continue(j->e->io, new_store_original, j);
}

static void new_ingest(void *arg)
{
    struct job *j = arg;
    struct edits *e = j->e;
    const char *why = NULL;
    enum err rc =
        ingest_image_only(j->o.image, j->o.image_len, &e->app->image_limits, &j->orig, &why);

    if (rc != ERR_OK) {
        finish(j, rc, why, false); /* nothing stored yet */
        return;
    }
    atomic_store(&j->branches, 2);
    /* the editor first: a remote one then works while we make the thumbnail and store
     * the original (queued behind the other uploads' first steps, not ahead of them) */
    editor_edit(e->editor, j->orig.png, j->orig.png_len, j->o.prompt, new_edited, j);
    pool_continue(e->cpu, new_thumbnail_original, j);
}

/* ---- an edit of a saved drawing ---------------------------------------------------------- */

static void saved_record(void *arg)
{
    struct job *j = arg;
    struct edit ed = {
        .prompt = (char *)j->o.prompt,
        .source = (char *)(j->heard ? "audio" : "text"),
        .created_at = j->now_ms,
    };
    enum err rc;

    if (store_edit(j) != ERR_OK) {
        finish(j, j->edit_rc, j->edit_why, true);
        return;
    }
    ed.image_key = j->edit_data ? j->edit_data : j->edit_key;
    ed.thumbnail_key = j->edit_data ? NULL : j->edit_thumb;
    rc = db_edit_append(j->e->app->db, j->o.user_id, j->drawing_id, &ed);
    if (rc != ERR_OK) {
        delete_stored(j, false, true);
        if (rc == ERR_NOT_FOUND) /* deleted meanwhile */
            finish(j, rc, "Drawing not found", false);
        else
            finish(j, rc, "Database unavailable", true);
        return;
    }
    if (j->edit_data)
        queue_upload(j, j->edit_key);
    finish(j, ERR_OK, NULL, true);
}

static void saved_edited(void *arg, enum err rc, const void *out, size_t len, const char *why)
{
    struct job *j = arg;

    if (ingest_edited(j, rc, out, len, why) != ERR_OK) {
        finish(j, j->edit_rc, j->edit_why[0] ? j->edit_why : NULL, true);
        return;
    }
    pool_continue(j->e->io, saved_record, j);
}

static void saved_edit(void *arg)
{
    struct job *j = arg;

    editor_edit(j->e->editor, j->saved_png, j->saved_len, j->o.prompt, saved_edited, j);
}

static void saved_load(void *arg)
{
    struct job *j = arg;
    struct edits *e = j->e;
    struct arena *a = arena_new();
    struct drawing d;
    enum err rc = a ? db_drawing_get(e->app->db, j->o.user_id, j->o.drawing_id, a, &d) : ERR_NOMEM;

    if (rc == ERR_OK &&
        strncmp(d.original_key, DATA_URL_PREFIX, sizeof(DATA_URL_PREFIX) - 1) == 0) {
        /* still kept in the row (storage was down when it was saved) */
        const char *b64 = d.original_key + sizeof(DATA_URL_PREFIX) - 1;
        unsigned char *png = NULL;

        rc = base64_decode(b64, strlen(b64), (size_t)-1 / 2, &png, &j->saved_len);
        j->saved_png = png;
        arena_free(a);
        if (rc != ERR_OK) {
            finish(j, ERR_INTERNAL, NULL, false);
            return;
        }
        goto edit;
    }
    if (rc == ERR_OK && strlen(d.original_key) >= sizeof(j->orig_key))
        rc = ERR_INTERNAL;
    if (rc == ERR_OK)
        memcpy(j->orig_key, d.original_key, strlen(d.original_key) + 1);
    arena_free(a);
    if (rc != ERR_OK) {
        finish(j, rc, rc == ERR_NOT_FOUND ? "Drawing not found" : NULL, false);
        return;
    }
    rc = storage_get(e->app->storage, j->orig_key, &j->saved_png, &j->saved_len);
    if (rc != ERR_OK) {
        log_warn("edits: cannot read the original of drawing %s (%s)", j->drawing_id, err_name(rc));
        /* a row whose object is missing is our fault (500), not a reason to retry */
        finish(j, rc == ERR_UNAVAILABLE ? rc : ERR_INTERNAL,
               rc == ERR_UNAVAILABLE ? "Storage unavailable" : NULL, false);
        return;
    }
edit:
    pool_continue(e->cpu, saved_edit, j);
}

/* ---- a voice order: decode, transcribe, then edit ------------------------------------------ */

/* The first step of an edit whose prompt was heard: already on the cpu pool, so a new
 * drawing's first step runs right here. */
static void continue_edit(struct job *j)
{
    if (j->o.drawing_id)
        pool_continue(j->e->io, saved_load, j);
    else
        new_ingest(j);
}

static void heard(void *arg, enum err rc, const char *text, const char *why)
{
    struct job *j = arg;
    const char *refusal = NULL;

    if (rc != ERR_OK) {
        finish(j, rc, why, false);
        return;
    }
    j->heard = strdup(text);
    if (!j->heard) {
        finish(j, ERR_NOMEM, NULL, false);
        return;
    }
    j->o.prompt = j->heard;
    /* what was heard must be something the editor can do, before anything is stored */
    if (edits_check_prompt(j->e, j->heard, &refusal) != ERR_OK) {
        finish(j, ERR_REFUSED, refusal, false);
        return;
    }
    continue_edit(j);
}

static void transcribe_step(void *arg)
{
    struct job *j = arg;
    struct edits *e = j->e;
    struct audio_limits lim = {
        .max_bytes = (size_t)e->app->cfg->max_audio_bytes,
        .max_seconds = (double)e->app->cfg->max_audio_seconds,
    };
    int16_t *pcm = NULL;
    size_t n = 0;
    const char *why = NULL;
    enum err rc = audio_decode(j->o.audio, j->o.audio_len, &lim, &pcm, &n, &why);

    if (rc != ERR_OK) {
        finish(j, rc, why, false);
        return;
    }
    /* the local transcriber calls heard() before returning; a remote one later, which is
     * why pcm must live until then: it is encoded into the request before that returns */
    transcriber_transcribe(e->transcriber, pcm, n, j->o.language, heard, j);
    free(pcm);
}

/* ---- public ---------------------------------------------------------------------------- */

enum err edits_submit(struct edits *e, const struct edit_order *o, edit_done_fn done, void *arg)
{
    struct job *j;
    enum err rc;

    /* counted before the closing check: edits_stop() sets closing, then waits for the
     * count, so it either sees this edit or this edit sees closing */
    if (atomic_fetch_add(&e->in_flight, 1) >= e->max_in_flight) {
        atomic_fetch_sub(&e->in_flight, 1);
        return ERR_BUSY;
    }
    if (atomic_load(&e->closing)) {
        atomic_fetch_sub(&e->in_flight, 1);
        return ERR_UNAVAILABLE;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        atomic_fetch_sub(&e->in_flight, 1);
        return ERR_NOMEM;
    }
    j->e = e;
    j->o = *o;
    j->done = done;
    j->arg = arg;
    j->start_ns = time_mono_ns();
    j->now_ms = time_now_ms();
    if (o->drawing_id)
        memcpy(j->drawing_id, o->drawing_id, ID_UUID_LEN);
    else if (!id_uuid_new(j->drawing_id)) {
        rc = ERR_INTERNAL;
        goto fail;
    }
    if (o->audio || !o->prompt)
        rc = e->transcriber ? pool_submit(e->cpu, transcribe_step, j) : ERR_UNAVAILABLE;
    else
        rc = j->o.drawing_id ? pool_submit(e->io, saved_load, j) /* admission: bounded */
                             : pool_submit(e->cpu, new_ingest, j);
    if (rc == ERR_OK)
        return ERR_OK;
fail:
    free(j);
    atomic_fetch_sub(&e->in_flight, 1);
    return rc;
}

enum err edits_check_prompt(const struct edits *e, const char *prompt, const char **why)
{
    if (!e->editor->ops->check)
        return ERR_OK;
    return e->editor->ops->check(e->editor, prompt, why);
}

enum err edits_check_language(const struct edits *e, const char *language, const char **why)
{
    if (!e->transcriber) {
        *why = "Voice prompts are not available on this server";
        return ERR_UNAVAILABLE;
    }
    return transcriber_language_ok(e->transcriber, language, why);
}

const char *edits_editor_name(const struct edits *e)
{
    return e->editor->ops->name;
}

static void on_worker_exit(void)
{
    imaging_thread_done();
}

enum err edits_open(struct app *app, struct edits **out)
{
    const struct config *cfg = app->cfg;
    struct edits *e = calloc(1, sizeof(*e));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned workers =
        cfg->edit_workers > 0 ? (unsigned)cfg->edit_workers : (unsigned)(cores > 0 ? cores : 1);
    enum err rc;

    if (!e)
        return ERR_NOMEM;
    e->app = app;
    e->max_in_flight = cfg->edit_queue;
    rc = pool_open("cpu", workers, (size_t)cfg->edit_queue, on_worker_exit, &e->cpu);
    if (rc == ERR_OK)
        rc = pool_open("io", IO_THREADS, (size_t)cfg->edit_queue, on_worker_exit, &e->io);
    e->http = app->http; /* the app's: opened before us, closed after us */
    if (rc == ERR_OK)
        rc = editor_open(cfg, e->http, e->cpu, &e->editor);
    if (rc != ERR_OK) {
        edits_close(e);
        return rc;
    }
    {
        const char *why = NULL;
        bool local_editor = strcmp(e->editor->ops->name, "local") == 0;
        /* images are still edited without one: voice prompts then answer 503 */
        if (transcriber_open(cfg, local_editor, e->http, e->cpu, &e->transcriber, &why) !=
            ERR_OK)
            log_warn("edits: no transcriber, voice prompts are off (%s)",
                     why ? why : "see above");
    }
    log_info("edits: %u cpu workers, %d io workers, at most %ld edits in flight", workers,
             IO_THREADS, e->max_in_flight);
    *out = e;
    return ERR_OK;
}

/* Waits until no edit is in flight, or the deadline. */
static bool wait_idle(struct edits *e, int64_t deadline_ns)
{
    while (atomic_load(&e->in_flight) > 0 && time_mono_ns() < deadline_ns) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&e->in_flight) == 0;
}

bool edits_stop(struct edits *e, int grace_seconds)
{
    if (!e)
        return true;
    atomic_store(&e->closing, true);
    if (wait_idle(e, time_mono_ns() + (int64_t)grace_seconds * 1000000000))
        return true;
    log_warn("edits: %ld edits still in flight; failing their remote calls",
             atomic_load(&e->in_flight));
    httpc_shutdown(e->http); /* waiting calls end now, as 503 */
    if (wait_idle(e, time_mono_ns() + 10LL * 1000000000))
        return true;
    log_error("edits: %ld edits did not finish (a hung storage or database call?)",
              atomic_load(&e->in_flight));
    return false;
}

void edits_close(struct edits *e)
{
    if (!e)
        return;
    if (!edits_stop(e, 0)) {
        /* threads still use what we would free: leave it all; the process is exiting */
        return;
    }
    /* nothing in flight: no editor or transcriber call is left on the app's client */
    pool_close(e->cpu);
    pool_close(e->io);
    transcriber_close(e->transcriber);
    editor_close(e->editor);
    free(e);
}
