/*
 * app.h - struct app: the configuration and the open backends, built once by main
 * and handed to every handler. Read-only after app_open(); the backends it holds
 * are themselves thread-safe. The app owns the process's one HTTP client (util/httpc):
 * storage (s3), the editor and the transcribers send on it.
 */
#pragma once

#include "auth.h"
#include "config.h"
#include "db/db.h"
#include "imaging/ingest.h"
#include "storage/storage.h"

struct edits;
struct httpc;

struct app {
    const struct config *cfg; /* borrowed: main owns it */
    struct httpc *http;       /* owned; opened first, closed last */
    struct db *db;
    struct storage *storage;
    struct auth *auth;
    struct ingest_limits image_limits;
    struct edits *edits; /* the edit pipeline (edits.h); serve only, NULL in other commands */
};

/* Opens every backend, runs migrations if migrate is true. Logs what failed. */
enum err app_open(const struct config *cfg, bool migrate, struct app *out);
/* Closes in reverse order: the HTTP client is shut down first (calls still in flight
 * end, their callbacks run) and freed last, after everything that sends on it.
 * app->edits must already be closed. Accepts a zeroed app. */
void app_close(struct app *app);
