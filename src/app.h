/*
 * app.h - struct app: the configuration and the open backends, built once by main
 * and handed to every handler. Read-only after app_open(); the backends it holds
 * are themselves thread-safe.
 */
#pragma once

#include "auth.h"
#include "config.h"
#include "db/db.h"
#include "imaging/ingest.h"
#include "storage/storage.h"

struct edits;

struct app {
    const struct config *cfg; /* borrowed: main owns it */
    struct db *db;
    struct storage *storage;
    struct auth *auth;
    struct ingest_limits image_limits;
    struct edits *edits; /* the edit pipeline (edits.h); serve only, NULL in other commands */
};

/* Opens every backend, runs migrations if migrate is true. Logs what failed. */
enum err app_open(const struct config *cfg, bool migrate, struct app *out);
/* Closes in reverse order. Accepts a zeroed app. */
void app_close(struct app *app);
