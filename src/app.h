/*
 * app.h - struct app: the configuration and the open backends, built once by main
 * and handed to every handler. Read-only after app_open() (and app_start_workers());
 * the backends it holds are themselves thread-safe. The app owns the process's one
 * HTTP client (util/httpc): storage (s3), the editor and the transcribers send on it.
 * It owns every backend and worker pool it holds, and closes them in app_close().
 */
#pragma once

#include "auth.h"
#include "config.h"
#include "db/db.h"
#include "imaging/ingest.h"
#include "storage/storage.h"

struct accounts;
struct edits;
struct editor;
struct httpc;
struct pool;
struct transcriber;

struct app {
    const struct config *cfg; /* borrowed: main owns it */
    struct httpc *http;       /* owned; opened first, closed last */
    struct db *db;
    struct storage *storage;
    struct auth *auth;
    struct accounts *accounts; /* sign-up, sign-in, refresh tokens (accounts.h) */
    struct ingest_limits image_limits;
    /* the workers, started by app_start_workers() (serve only; NULL in other commands) */
    struct pool *cpu;                /* image and audio work: EDIT_WORKERS threads */
    struct pool *io;                 /* blocking database (and local storage) calls */
    struct editor *editor;           /* IMAGE_EDITOR's; sends on http or runs on cpu */
    struct transcriber *transcriber; /* NULL when none could be loaded: voice is off */
    struct edits *edits;             /* the edit pipeline's admission (edits.h); owned by main */
    struct body_cache *bodies;       /* conditional GETs' bodies by tag (serve only; or NULL) */
};

/* Opens every backend, runs migrations if migrate is true. Logs what failed. */
enum err app_open(const struct config *cfg, bool migrate, struct app *out);
/* Starts the worker pools, the editor and the transcriber the configuration names.
 * A transcriber that cannot load only turns voice prompts off (logged). */
enum err app_start_workers(struct app *app);
/* Closes in reverse order: the HTTP client is shut down first (calls still in flight
 * end, their callbacks run), then the pools finish their queued work, and the client
 * is freed last, after everything that sends on it. app->edits must already be
 * closed (nothing in flight). Accepts a zeroed app. */
void app_close(struct app *app);
