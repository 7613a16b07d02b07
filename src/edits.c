/*
 * edits.c - the edit pipeline's steps (see edits.h for the picture). Each step
 * is a function that runs on one pool and queues the next; a flow moves between
 * threads only through a pool's queue (whose lock orders its memory), so it is
 * touched by one thread at a time, except for the two branches of a new drawing,
 * which write disjoint fields and meet in join(). The storing, recording and
 * undoing are drawings.c's; this file only sequences them.
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
#include "metrics.h"
#include "imaging/editor.h"
#include "speech/transcriber.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/timefmt.h"

#define WHY_MAX 1024 /* the local editor's refusal lists its vocabulary */

struct edits {
    struct app *app; /* its pools, editor, transcriber and HTTP client do the work */
    atomic_long in_flight;
    long max_in_flight;
    atomic_bool closing;
};

/* What both flows share: the order, its answer, and the edit being made. */
struct run {
    struct edits *e;
    struct edit_order o;
    void (*start)(struct run *r); /* the flow's first step, once the prompt is known */
    char *heard;                  /* the transcription (malloc'd); o.prompt points at it */
    edit_done_fn done;
    void *arg;
    int64_t start_ns, now_ms;
    char drawing_id[ID_UUID_LEN];

    char *applied, *ignored;     /* what the local editor read (malloc'd), or NULL */
    struct ingest_result result; /* the edited image, normalised */
    struct stored_image edit;    /* where it went */
    enum err edit_rc;            /* editing and storing the edit */
    char edit_why[WHY_MAX];
};

/* A new drawing: the upload's original is stored while the editor works. */
struct new_drawing {
    struct run r; /* first: a struct run * is a struct new_drawing * */
    struct ingest_result orig;
    struct stored_image stored;
    enum err orig_rc;    /* making the thumbnail and storing the original (branch 1) */
    atomic_int branches; /* 2 with an edit, else 1; counted down by join() */
};

/* An edit of a saved drawing: its original is read, edited, and the edit appended. */
struct saved_edit {
    struct run r; /* first */
    void *png;    /* the saved original (malloc'd) */
    size_t len;
    enum err read_rc; /* reading it */
};

/* ---- the end of a flow ------------------------------------------------------------ */

static void run_free(struct run *r)
{
    ingest_result_free(&r->result);
    free(r->heard);
    free(r->applied);
    free(r->ignored);
    if (r->o.drawing_id)
        free(((struct saved_edit *)r)->png);
    else
        ingest_result_free(&((struct new_drawing *)r)->orig);
    free(r);
}

/* Tells the caller how it went and frees the flow. d: the drawing recorded, or NULL;
 * with_drawing: r->drawing_id exists (the error names it). */
static void finish(struct run *r, enum err rc, const char *why, bool with_drawing,
                   const struct drawing *d)
{
    struct edits *e = r->e;
    struct arena *a = NULL;
    struct edit_outcome o = {
        .rc = rc,
        .why = why,
        .drawing_id = with_drawing ? r->drawing_id : NULL,
        .drawing = d,
        .prompt = r->o.prompt,
        .transcription = r->heard,
        .applied = r->applied,
        .ignored = r->ignored,
        .seconds = (double)(time_mono_ns() - r->start_ns) / 1e9,
    };

    if (rc == ERR_OK && r->o.prompt) {
        /* storage refused the edit: its bytes in the answer, as the seed does */
        a = arena_new();
        o.result_url =
            a ? drawings_url(e->app, r->edit.key, r->edit.key_pending, &r->result, a) : NULL;
        if (!o.result_url) {
            o.rc = ERR_NOMEM;
            o.why = NULL;
        }
    }
    if (r->o.prompt || r->o.voice) /* an upload without a prompt is not an edit */
        metrics_edit_end(e->app->editor->ops->name, time_mono_ns() - r->start_ns);
    r->done(r->arg, &o);
    arena_free(a);
    run_free(r);
    atomic_fetch_sub(&e->in_flight, 1);
}

static void set_edit_error(struct run *r, enum err rc, const char *why)
{
    r->edit_rc = rc;
    snprintf(r->edit_why, sizeof(r->edit_why), "%s", why ? why : "");
}

/* Keeps what the local editor applied (names joined by ", ") and ignored. */
static enum err keep_plan(struct run *r, const struct edit_plan *plan)
{
    size_t len = 1;

    if (!plan)
        return ERR_OK; /* a remote editor: both stay NULL */
    for (size_t i = 0; i < plan->n; i++)
        len += strlen(editor_kind_name(plan->steps[i].kind)) + 2;
    r->applied = malloc(len);
    r->ignored = strdup(plan->ignored ? plan->ignored : "");
    if (!r->applied || !r->ignored)
        return ERR_NOMEM;
    r->applied[0] = '\0';
    for (size_t i = 0, at = 0; i < plan->n; i++)
        at += (size_t)snprintf(r->applied + at, len - at, "%s%s", i ? ", " : "",
                               editor_kind_name(plan->steps[i].kind));
    return ERR_OK;
}

/* The editor's image, ingested like an upload (untrusted bytes, same limits), then
 * stored: on the io pool. */
static enum err ingest_edited(struct run *r, enum err rc, const void *out, size_t len,
                              const char *why, const struct edit_plan *plan)
{
    const char *ingest_why = NULL;

    if (rc == ERR_OK)
        rc = keep_plan(r, plan);
    if (rc != ERR_OK) {
        set_edit_error(r, rc, why);
        return rc;
    }
    rc = ingest_image(out, len, &r->e->app->image_limits, &r->result, &ingest_why);
    if (rc != ERR_OK) {
        log_warn("edits: the %s editor returned an image we cannot use (%s)",
                 r->e->app->editor->ops->name, err_name(rc));
        set_edit_error(r, ERR_UPSTREAM, "The editor returned an image that could not be used");
        return ERR_UPSTREAM;
    }
    return ERR_OK;
}

/* Starts storing the edit; done(r) when it has ended (stored, or kept pending). */
static void store_edit(struct run *r, drawings_done_fn done)
{
    enum err rc = drawings_store(r->e->app, r->o.user_id, STORAGE_EDITED, &r->result, r->now_ms,
                                 &r->edit, done, r);

    if (rc != ERR_OK) {
        set_edit_error(r, rc, NULL);
        done(r, rc);
    }
}

/* The edit row for r (its keys are set when it is recorded). */
static struct edit edit_row(const struct run *r)
{
    return (struct edit){
        .prompt = (char *)r->o.prompt,
        .source = (char *)(r->heard ? "audio" : "text"),
        .applied = r->applied,
        .ignored = r->ignored,
        .created_at = r->now_ms,
    };
}

/* ---- a new drawing ---------------------------------------------------------------- */

static void new_record(void *arg)
{
    struct new_drawing *nd = arg;
    struct run *r = &nd->r;
    bool with_edit = r->o.prompt && r->edit_rc == ERR_OK;
    struct edit ed = edit_row(r);
    struct drawing d = {.tutorial_id = (char *)r->o.tutorial_id};
    const char *why = NULL;
    enum err rc;

    if (nd->orig_rc != ERR_OK) {
        drawings_unstore(r->e->app, &r->edit);
        finish(r, nd->orig_rc, NULL, false, NULL);
        return;
    }
    memcpy(d.id, r->drawing_id, ID_UUID_LEN);
    memcpy(d.user_id, r->o.user_id, ID_UUID_LEN);
    d.created_at = d.updated_at = r->now_ms;
    d.edits = with_edit ? &ed : NULL;
    d.n_edits = with_edit;
    rc = drawings_record_new(r->e->app, &d, &nd->stored, &r->edit, &why);
    if (rc != ERR_OK) {
        finish(r, rc, why, false, NULL);
        return;
    }
    d.original_pending = nd->stored.key_pending;
    d.thumbnail_pending = nd->stored.thumb_pending;
    ed.image_pending = r->edit.key_pending;
    ed.thumbnail_pending = r->edit.thumb_pending;
    if (r->o.prompt && r->edit_rc != ERR_OK) {
        /* the drawing is saved; the error names it */
        drawings_unstore(r->e->app, &r->edit);
        finish(r, r->edit_rc, r->edit_why[0] ? r->edit_why : NULL, true, &d);
        return;
    }
    finish(r, ERR_OK, NULL, true, &d);
}

/* Where the branches meet: the last to arrive records the result. */
static void join(struct new_drawing *nd)
{
    if (atomic_fetch_sub(&nd->branches, 1) != 1)
        return;
    pool_continue(nd->r.e->app->io, new_record, nd);
}

/* The storage callbacks run on the HTTP client's thread (S3): they only record and
 * hand on. */
static void new_original_stored(void *arg, enum err rc)
{
    struct new_drawing *nd = arg;

    nd->orig_rc = rc;
    join(nd);
}

static void new_store_original(void *arg)
{
    struct new_drawing *nd = arg;
    enum err rc = drawings_store(nd->r.e->app, nd->r.o.user_id, STORAGE_ORIGINAL, &nd->orig,
                                 nd->r.now_ms, &nd->stored, new_original_stored, nd);

    if (rc != ERR_OK)
        new_original_stored(nd, rc);
}

static void new_edit_stored(void *arg, enum err rc)
{
    struct new_drawing *nd = arg;

    if (rc != ERR_OK)
        set_edit_error(&nd->r, rc, NULL);
    join(nd);
}

static void new_store_edit(void *arg)
{
    store_edit(arg, new_edit_stored);
}

static void new_edited(void *arg, enum err rc, const void *out, size_t len, const char *why,
                       const struct edit_plan *plan)
{
    struct new_drawing *nd = arg;

    if (ingest_edited(&nd->r, rc, out, len, why, plan) != ERR_OK) {
        join(nd);
        return;
    }
    pool_continue(nd->r.e->app->io, new_store_edit, nd);
}

/* Branch 1, on the cpu pool: the original's thumbnail, then its storage on io. */
static void new_thumbnail_original(void *arg)
{
    struct new_drawing *nd = arg;

    nd->orig_rc = ingest_add_thumbnail(&nd->orig);
    if (nd->orig_rc != ERR_OK) {
        join(nd);
        return;
    }
    pool_continue(nd->r.e->app->io, new_store_original, nd);
}

static void new_ingest(struct run *r)
{
    struct new_drawing *nd = (struct new_drawing *)r;
    struct edits *e = r->e;
    const char *why = NULL;
    enum err rc =
        ingest_image_only(r->o.image, r->o.image_len, &e->app->image_limits, &nd->orig, &why);

    if (rc != ERR_OK) {
        finish(r, rc, why, false, NULL); /* nothing stored yet */
        return;
    }
    atomic_store(&nd->branches, r->o.prompt ? 2 : 1);
    /* the editor first: a remote one then works while we make the thumbnail and store
     * the original (queued behind the other uploads' first steps, not ahead of them) */
    if (r->o.prompt)
        editor_edit(e->app->editor, nd->orig.png, nd->orig.png_len, r->o.prompt, new_edited, nd);
    pool_continue(e->app->cpu, new_thumbnail_original, nd);
}

static void new_ingest_step(void *arg)
{
    new_ingest(arg);
}

/* ---- an edit of a saved drawing ---------------------------------------------------- */

static void saved_record(void *arg)
{
    struct run *r = arg;
    struct edit ed = edit_row(r);
    const char *why = NULL;
    enum err rc = r->edit_rc;

    if (rc != ERR_OK) {
        finish(r, rc, NULL, true, NULL);
        return;
    }
    rc = drawings_record_edit(r->e->app, r->o.user_id, r->drawing_id, &ed, &r->edit, &why);
    finish(r, rc, why, rc != ERR_NOT_FOUND, NULL); /* not found: deleted meanwhile */
}

static void saved_edit_stored(void *arg, enum err rc)
{
    struct run *r = arg;

    if (rc != ERR_OK)
        set_edit_error(r, rc, NULL);
    pool_continue(r->e->app->io, saved_record, r);
}

static void saved_store(void *arg)
{
    store_edit(arg, saved_edit_stored);
}

static void saved_edited(void *arg, enum err rc, const void *out, size_t len, const char *why,
                         const struct edit_plan *plan)
{
    struct run *r = arg;

    if (ingest_edited(r, rc, out, len, why, plan) != ERR_OK) {
        finish(r, r->edit_rc, r->edit_why[0] ? r->edit_why : NULL, true, NULL);
        return;
    }
    pool_continue(r->e->app->io, saved_store, r);
}

/* On the cpu pool: the original is in (or not), the editor's turn. */
static void saved_edit(void *arg)
{
    struct saved_edit *se = arg;

    if (se->read_rc != ERR_OK) {
        finish(&se->r, se->read_rc, se->read_rc == ERR_UNAVAILABLE ? "Storage unavailable" : NULL,
               false, NULL);
        return;
    }
    editor_edit(se->r.e->app->editor, se->png, se->len, se->r.o.prompt, saved_edited, se);
}

/* The original arrived (maybe on the HTTP client's thread): on to the cpu pool. */
static void saved_got(void *arg, enum err rc, void *png, size_t len)
{
    struct saved_edit *se = arg;

    se->read_rc = rc;
    se->png = png;
    se->len = len;
    pool_continue(se->r.e->app->cpu, saved_edit, se);
}

static void saved_load(void *arg)
{
    struct saved_edit *se = arg;
    const char *why = NULL;
    enum err rc =
        drawings_original(se->r.e->app, se->r.o.user_id, se->r.drawing_id, saved_got, se, &why);

    if (rc != ERR_OK)
        finish(&se->r, rc,
               why                     ? why
               : rc == ERR_UNAVAILABLE ? "Storage unavailable"
                                       : NULL,
               false, NULL);
}

static void saved_start(struct run *r)
{
    pool_continue(r->e->app->io, saved_load, r);
}

/* ---- a voice order: decode, transcribe, then edit ------------------------------------------ */

/* SPEC §16: the detail of a voice prompt whose words are not an edit. */
#define VOICE_REFUSAL "Could not understand the prompt"

static void heard(void *arg, enum err rc, const char *text, const char *why)
{
    struct run *r = arg;
    const char *refusal = NULL;

    metrics_transcription(r->e->app->transcriber->ops->name,
                          rc == ERR_OK ? "ok" : rc == ERR_REFUSED ? "refused" : "error");
    if (rc != ERR_OK) {
        /* a refusal reports what was heard (SPEC §16), "" when nothing was */
        if (rc == ERR_REFUSED) {
            r->heard = strdup(text ? text : "");
            if (!r->heard)
                rc = ERR_NOMEM;
        }
        finish(r, rc, rc == ERR_NOMEM ? NULL : why, false, NULL);
        return;
    }
    r->heard = strdup(text);
    if (!r->heard) {
        finish(r, ERR_NOMEM, NULL, false, NULL);
        return;
    }
    r->o.prompt = r->heard;
    /* what was heard must be something the editor can do, before anything is stored */
    if (edits_check_prompt(r->e, r->heard, &refusal) != ERR_OK) {
        finish(r, ERR_REFUSED, VOICE_REFUSAL, false, NULL);
        return;
    }
    r->start(r); /* already on the cpu pool: a new drawing's first step runs right here */
}

static void transcribe_step(void *arg)
{
    struct run *r = arg;
    struct edits *e = r->e;
    struct audio_limits lim = {
        .max_bytes = (size_t)e->app->cfg->max_audio_bytes,
        .max_seconds = (double)e->app->cfg->max_audio_seconds,
    };
    int16_t *pcm = NULL;
    size_t n = 0;
    const char *why = NULL;
    enum err rc = audio_decode(r->o.audio, r->o.audio_len, &lim, &pcm, &n, &why);

    if (rc != ERR_OK) {
        finish(r, rc, why, false, NULL);
        return;
    }
    /* the local transcriber calls heard() before returning; a remote one later, which is
     * why pcm must live until then: it is encoded into the request before that returns */
    transcriber_transcribe(e->app->transcriber, pcm, n, r->o.language, heard, r);
    free(pcm);
}

/* ---- public ---------------------------------------------------------------------------- */

enum err edits_submit(struct edits *e, const struct edit_order *o, edit_done_fn done, void *arg)
{
    struct run *r;
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
    r = calloc(1, o->drawing_id ? sizeof(struct saved_edit) : sizeof(struct new_drawing));
    if (!r) {
        atomic_fetch_sub(&e->in_flight, 1);
        return ERR_NOMEM;
    }
    r->e = e;
    r->o = *o;
    r->start = o->drawing_id ? saved_start : new_ingest;
    r->done = done;
    r->arg = arg;
    r->start_ns = time_mono_ns();
    r->now_ms = time_now_ms();
    if (o->drawing_id)
        memcpy(r->drawing_id, o->drawing_id, ID_UUID_LEN);
    else if (!id_uuid_new(r->drawing_id)) {
        rc = ERR_INTERNAL;
        goto fail;
    }
    if (o->prompt || o->voice)
        metrics_edit_begin(); /* before the work can finish on another thread */
    if (o->voice)
        rc = e->app->transcriber ? pool_submit(e->app->cpu, transcribe_step, r) : ERR_UNAVAILABLE;
    else if (o->drawing_id)
        rc = pool_submit(e->app->io, saved_load, r); /* admission: bounded */
    else
        rc = pool_submit(e->app->cpu, new_ingest_step, r);
    if (rc == ERR_OK)
        return ERR_OK;
    if (o->prompt || o->voice)
        metrics_edit_end(NULL, 0); /* never ran */
fail:
    free(r);
    atomic_fetch_sub(&e->in_flight, 1);
    return rc;
}

enum err edits_check_prompt(const struct edits *e, const char *prompt, const char **why)
{
    if (!e->app->editor->ops->check)
        return ERR_OK;
    return e->app->editor->ops->check(e->app->editor, prompt, why);
}

enum err edits_check_language(const struct edits *e, const char *language, const char **why)
{
    if (!e->app->transcriber) {
        *why = "Voice prompts are not available on this server";
        return ERR_UNAVAILABLE;
    }
    return transcriber_language_ok(e->app->transcriber, language, why);
}

const char *edits_editor_name(const struct edits *e)
{
    return e->app->editor->ops->name;
}

enum err edits_open(struct app *app, struct edits **out)
{
    struct edits *e = calloc(1, sizeof(*e));

    if (!e)
        return ERR_NOMEM;
    e->app = app;
    e->max_in_flight = app->cfg->edit_queue;
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
    httpc_shutdown(e->app->http); /* waiting calls end now, as 503 */
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
    if (!edits_stop(e, 0))
        return; /* threads still use it: leave it; the process is exiting */
    free(e);
}
