/*
 * drawings.h - the drawing operations the API offers, above the backends:
 * saving an upload (ingest, store, record) and deleting a drawing with its
 * stored objects. Handlers parse and answer; this is where the steps and their
 * order live, so nothing a user uploaded is lost on an error path.
 *
 * Thread-safe; records are allocated from the caller's arena.
 */
#pragma once

#include "app.h"

/*
 * Validates and normalises the image, stores the PNG and its thumbnail, and records
 * the drawing. tutorial_id (canonical, or NULL) must exist (ERR_NOT_FOUND otherwise,
 * checked before anything is stored). On failure nothing is left behind and *why
 * (may be NULL) holds a client-safe sentence when there is one.
 */
enum err drawings_create(struct app *app, const char *user_id, const char *tutorial_id,
                         const void *image, size_t len, struct arena *a, struct drawing *out,
                         const char **why);

/* Deletes user_id's drawing, then its stored objects. ERR_NOT_FOUND if not theirs. */
enum err drawings_delete(struct app *app, const char *user_id, const char *id, struct arena *a);

/*
 * Stores an ingested image and its thumbnail under fresh keys of the given kind,
 * writing the keys to key and thumb. On failure nothing stays. Thread-safe.
 */
enum err drawings_store_image(struct app *app, const char *user_id,
                              enum storage_kind_of_object kind, const struct ingest_result *img,
                              int64_t now_ms, char key[STORAGE_KEY_MAX],
                              char thumb[STORAGE_KEY_MAX]);
