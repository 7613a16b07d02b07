/*
 * drawings.h - the drawing operations above the backends, for every route that
 * saves, edits or deletes a drawing: the tutorial check, storing an image and its
 * thumbnail, recording it, undoing what was stored when recording fails, deleting
 * with objects, and the storage fallback. Handlers parse and answer and the edit
 * pipeline (edits.c) sequences these steps across its pools; this is where the
 * steps and their order live, so nothing a user uploaded is lost on an error path.
 *
 * The fallback has its one owner here. An image storage refuses after its retries
 * (ERR_UNAVAILABLE) is not lost: its row names the key it will have, its bytes are
 * kept in the database's pending table in the same transaction, and an upload job
 * (jobs.c) stores it later. drawings_url() renders every image URL the API shows.
 *
 * The functions block (storage, database): call them from the io pool or a
 * command, never from an HTTP thread. Thread-safe; records live in the caller's
 * arena.
 */
#pragma once

#include "app.h"
#include "imaging/ingest.h"

/* An image and its thumbnail, after drawings_store(): each stored, or pending. */
struct stored_image {
    char key[STORAGE_KEY_MAX], thumb[STORAGE_KEY_MAX];
    bool key_pending, thumb_pending; /* refused by storage: kept with the record */
    bool stored;                     /* something is in storage (undo deletes it) */
    const struct ingest_result *img; /* borrowed: the bytes, until recorded */
};

/* ERR_NOT_FOUND with *why = "Tutorial not found" if tutorial_id (canonical, or NULL
 * for none) is not in the catalogue; ERR_UNAVAILABLE if the database cannot tell. */
enum err drawings_check_tutorial(struct app *app, const char *tutorial_id, const char **why);

/*
 * Stores img's PNG and WebP thumbnail under fresh keys of the given kind. What
 * storage refuses with ERR_UNAVAILABLE is marked pending, to be kept by the record;
 * any other failure deletes what was stored and is returned. img is borrowed until
 * the record is made.
 */
enum err drawings_store(struct app *app, const char *user_id, enum storage_kind_of_object kind,
                        const struct ingest_result *img, int64_t now_ms, struct stored_image *out);

/* Deletes what drawings_store() put in storage (when it is not going to be recorded). */
void drawings_unstore(struct app *app, struct stored_image *s);

/*
 * Records a new drawing: d (id, user, tutorial, times; at most one edit, whose
 * prompt, source and time are set) with orig's keys, and edit's when d has its edit,
 * plus what is pending, in one transaction. On failure the stored objects are
 * deleted and *why (may be NULL) names a client-safe reason when there is one.
 */
enum err drawings_record_new(struct app *app, struct drawing *d, struct stored_image *orig,
                             struct stored_image *edit, const char **why);

/* Appends edit e (prompt, source, time set) with img's keys to user_id's drawing; on
 * failure as drawings_record_new (ERR_NOT_FOUND: deleted meanwhile). */
enum err drawings_record_edit(struct app *app, const char *user_id, const char *drawing_id,
                              struct edit *e, struct stored_image *img, const char **why);

/* The PNG of user_id's drawing's original, from storage or, while pending, from the
 * database: malloc'd into *png, the caller frees it. */
enum err drawings_original(struct app *app, const char *user_id, const char *drawing_id, void **png,
                           size_t *len, const char **why);

/* Deletes user_id's drawing, then its stored objects (a failure queues a delete job).
 * ERR_NOT_FOUND if not theirs. */
enum err drawings_delete(struct app *app, const char *user_id, const char *id, struct arena *a);

/*
 * The URL a client fetches an image from: the stored object's; while it is pending,
 * PUBLIC_BASE_URL/media/pending/{key} (its bytes until it is stored, then a redirect
 * to the object); or, when inline_png is given for a pending image, a data: URL of it
 * (the seed's answer in an edit's result_image). NULL for a NULL key or no memory.
 */
char *drawings_url(const struct app *app, const char *key, bool pending,
                   const struct ingest_result *inline_png, struct arena *a);
