/*
 * edits.h - the edit pipeline (SPEC §5 edit routes, §8): an uploaded drawing, or
 * one already saved, goes through the editor and comes back as a stored edit,
 * without an HTTP thread ever waiting on it.
 *
 * A voice order is first decoded (FFmpeg) and transcribed (cpu pool, or the remote
 * transcriber without a thread); the transcription is then the prompt. An order
 * with neither prompt nor voice saves the upload without an edit (POST
 * /api/drawings), through the same steps less the editor's branch.
 * An edit of a new upload runs as two branches that meet at the end:
 *
 *   cpu: ingest the upload ──┬── io:  store original + thumbnail ──────────┐
 *                            └── editor (local on cpu, or remote: no thread │
 *                                while waiting) → cpu: ingest the result    │
 *                                → io: store edit + thumbnail ──────────────┴→ io: record
 *
 * and is recorded in one transaction: the drawing with its edit, or, when the
 * editor failed, the drawing alone (the error then names its drawing_id: nothing
 * the user uploaded is lost). An image storage refuses is kept pending with the
 * record (drawings.h); if the database fails, what was stored is deleted and
 * nothing is recorded. An edit of a saved drawing reads its original, edits it,
 * stores the result and appends it. The steps themselves are drawings.c's.
 *
 * Admission is bounded: past EDIT_QUEUE edits in flight, edits_submit() answers
 * ERR_BUSY (503 with Retry-After) at once. The work runs on the app's workers
 * (app_start_workers): CPU work on its cpu pool (EDIT_WORKERS threads), database
 * calls on its io pool, storage and remote calls on its one asynchronous HTTP client.
 *
 * Ownership: struct edits owns only its admission state; the app it borrows must
 * outlive it. An order's strings and image are borrowed until its done callback has run; the
 * outcome passed to done is borrowed for the duration of the call. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "util/id.h"

struct edits;

struct edit_order {
    const char *user_id; /* canonical UUID */
    /* what to do: a text prompt, or speech to transcribe first (voice; prompt NULL), or
     * neither: save a new drawing as it is */
    const char *prompt; /* 1-1000 characters, checked by the caller */
    bool voice;
    const void *audio; /* untrusted audio bytes; source "audio" */
    size_t audio_len;
    const char *language; /* checked with edits_check_language(); NULL = English */
    /* an edit of a saved drawing: */
    const char *drawing_id; /* canonical; must be user_id's (ERR_NOT_FOUND); or NULL: */
    /* a new drawing, from an upload: */
    const void *image; /* untrusted; may be NULL when image_len is 0 */
    size_t image_len;
    const char *tutorial_id; /* canonical, already checked to exist; or NULL */
};

struct edit_outcome {
    enum err rc;
    const char *why;               /* client-safe sentence for rc, or NULL */
    const char *drawing_id;        /* the drawing saved or edited; NULL if none was saved */
    const struct drawing *drawing; /* a new drawing as recorded, or NULL */
    const char *result_url;        /* the edit's URL, on success */
    const char *prompt;            /* what was done: the order's prompt, or the transcription */
    const char *transcription;     /* what was heard (audio orders), or NULL */
    const char *applied, *ignored; /* as struct edit keeps them (SPEC §16), or NULL */
    double seconds;                /* from submit to outcome */
};

typedef void (*edit_done_fn)(void *arg, const struct edit_outcome *o);

/* The pipeline over app's workers (app_start_workers() must have succeeded). */
enum err edits_open(struct app *app, struct edits **out);

/*
 * Starts an edit; done(arg, outcome) is called exactly once, later, from a pipeline
 * thread. ERR_BUSY when EDIT_QUEUE edits are in flight, ERR_NOMEM, ERR_UNAVAILABLE
 * while closing: then done is never called.
 */
enum err edits_submit(struct edits *e, const struct edit_order *o, edit_done_fn done, void *arg);

/* ERR_REFUSED (with a static *why) if the editor already knows it cannot do what
 * prompt asks (the local editor recognises no edit in it); ERR_OK otherwise. */
enum err edits_check_prompt(const struct edits *e, const char *prompt, const char **why);

/* ERR_UNAVAILABLE (no transcriber could be loaded), or ERR_INVALID with a static *why
 * naming the languages the transcriber does, before anything is stored. */
enum err edits_check_language(const struct edits *e, const char *language, const char **why);

/* The name of the editor in use ("local", "gemini"). */
const char *edits_editor_name(const struct edits *e);

/*
 * Refuses new edits (ERR_UNAVAILABLE) and lets those in flight finish; remote calls
 * still waiting after grace_seconds fail as 503. False if some edit is still running
 * 10 s after that (a hung storage or database call): its threads still use the app.
 * The struct stays valid (handlers may still call in) until edits_close(). Accepts NULL.
 */
bool edits_stop(struct edits *e, int grace_seconds);

/* edits_stop(e, 0), then frees. Accepts NULL. If edits_stop()
 * failed, nothing is freed (the process is about to exit). */
void edits_close(struct edits *e);
