/*
 * drawings.h - the drawing operations above the backends, for every route that
 * saves, edits or deletes a drawing: the tutorial check, storing an image and its
 * thumbnail, recording it, undoing what was stored when recording fails, deleting
 * with objects, and the storage fallback. Handlers parse and answer and the edit
 * pipeline (edits.c) sequences these steps across its pools; this is where the
 * steps and their order live, so nothing a user uploaded is lost on an error path.
 *
 * The fallback has its one owner here. An image storage does not take (any error
 * after its retries) is not lost: its row names the key it will have, its bytes are
 * kept in the database's pending table in the same transaction, and an upload job
 * (jobs.c) stores it later. drawings_url() renders every image URL the API shows.
 *
 * Storage calls are asynchronous (storage.h): with S3 they wait on the one HTTP
 * client's loop, not on a thread. The database calls block: call the others from the
 * io pool or a command, never from an HTTP thread. Thread-safe; records live in the
 * caller's arena.
 */
#pragma once

#include <stdatomic.h>

#include "app.h"
#include "imaging/ingest.h"

/* How an asynchronous step ends. For S3 it runs on the HTTP client's thread: it must
 * only record rc and queue the next step on a pool. */
typedef void (*drawings_done_fn)(void *arg, enum err rc);

/* An image and its thumbnail, after drawings_store(): each stored, or pending. */
struct stored_image {
    char key[STORAGE_KEY_MAX], thumb[STORAGE_KEY_MAX];
    bool key_pending, thumb_pending; /* refused by storage: kept with the record */
    bool key_stored, thumb_stored;   /* in storage (an undo deletes them) */
    const struct ingest_result *img; /* borrowed: the bytes, until recorded */
    /* drawings_store() in flight */
    struct app *app;
    atomic_int left;
    drawings_done_fn done;
    void *arg;
};

/* ERR_NOT_FOUND with *why = "Tutorial not found" if tutorial_id (canonical, or NULL
 * for none) is not in the catalogue; ERR_UNAVAILABLE if the database cannot tell. */
enum err drawings_check_tutorial(struct app *app, const char *tutorial_id, const char **why);

/*
 * Starts storing img's PNG and WebP thumbnail under fresh keys of the given kind, the
 * two at once, into *out (which must stay put until done runs). Whatever storage
 * refuses, after its retries, is marked pending, to be kept by the record: nothing is
 * lost. done(arg, ERR_OK) runs once when both have ended, maybe before this returns
 * (local storage). Returns an error, and done never runs, only if nothing could start.
 * img is borrowed until the record is made.
 */
enum err drawings_store(struct app *app, const char *user_id, enum storage_kind_of_object kind,
                        const struct ingest_result *img, int64_t now_ms, struct stored_image *out,
                        drawings_done_fn done, void *arg);

/* Deletes what drawings_store() put in storage (when it is not going to be recorded),
 * without waiting; a failure is logged, and `novadraw gc` finds the orphan. */
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

/* Which image of a drawing drawings_image_find() locates: 0 its original, N >= 1 its
 * Nth edit (edited_images_urls order), or this: its last edit. */
#define DRAWINGS_EDIT_LATEST (-1)

/* One image of a drawing, located for reading. */
struct drawing_image {
    const char *key; /* its storage key (or a legacy data: URL), in the finder's arena */
    bool pending;    /* kept in the database until storage takes it */
    int64_t number;  /* 0 the original, N the Nth edit (what "latest" resolved to) */
};

/*
 * Locates image `which` of user_id's drawing (the ownership check is the query) into
 * *out, strings in a. ERR_NOT_FOUND with *why = "Drawing not found" if the drawing is
 * not user_id's, or "Edit not found" if it has no such edit; another error if the
 * database fails.
 */
enum err drawings_image_find(struct app *app, const char *user_id, const char *drawing_id,
                             int64_t which, struct arena *a, struct drawing_image *out,
                             const char **why);

/* The image's stored object opened for zero-copy serving, when the backend serves files
 * (local) and the image is stored; ERR_UNSUPPORTED while it is pending (or a legacy
 * data: URL), ERR_NOT_FOUND when the backend has no files or the object is absent: read
 * it with drawings_image_read() instead. out->fd is the caller's to close. */
enum err drawings_image_file(struct app *app, const struct drawing_image *img,
                             struct storage_file *out);

/*
 * Reads the image's PNG: from the database while it is pending, else from storage
 * without waiting (S3: got runs on the HTTP client's thread). got(arg, rc, png, len)
 * runs once (maybe before this returns), png malloc'd and the callee's; rc
 * ERR_UNAVAILABLE (storage), or ERR_INTERNAL for a row whose object is missing.
 * Returns an error, and got never runs, if the database fails or nothing could start.
 * img is borrowed until this returns.
 */
enum err drawings_image_read(struct app *app, const struct drawing_image *img,
                             storage_got_fn got, void *arg);

/* drawings_image_find() of the original, then drawings_image_read(). */
enum err drawings_original(struct app *app, const char *user_id, const char *drawing_id,
                           storage_got_fn got, void *arg, const char **why);

/* Deletes user_id's drawing, then its stored objects, all at once (a failure queues a
 * delete job). ERR_NOT_FOUND if not theirs. */
enum err drawings_delete(struct app *app, const char *user_id, const char *id, struct arena *a);

/*
 * Deletes those of user_id's drawings among ids[0..n) (canonical UUIDs, 1 <= n <=
 * DB_DELETE_MANY_MAX) in one transaction, then their stored objects, as
 * drawings_delete() does (every object at once; a failure queues a delete job).
 * deleted[i] (n of them, the caller's) says whether ids[i] was deleted: false for an
 * id that does not exist or is another user's. Blocks until the objects are deleted
 * (at most one storage deadline).
 */
enum err drawings_delete_many(struct app *app, const char *user_id, const char *const *ids,
                              size_t n, struct arena *a, bool *deleted);

/*
 * The URL a client fetches an image from: the stored object's; while it is pending,
 * PUBLIC_BASE_URL/media/pending/{key} (its bytes until it is stored, then a redirect
 * to the object); or, when inline_png is given for a pending image, a data: URL of it
 * (the seed's answer in an edit's result_image). NULL for a NULL key or no memory.
 */
char *drawings_url(const struct app *app, const char *key, bool pending,
                   const struct ingest_result *inline_png, struct arena *a);

/*
 * The entity tag of what user_id sees of `what` (a gallery query, normalised, or a
 * drawing: the caller names it; arena text) while their gallery is at `version`
 * (db_user_version): a hash of those, of the configuration image URLs depend on
 * (PUBLIC_BASE_URL, the storage's), and, when image URLs are presigned
 * (STORAGE_ACL=private), of the half-TTL window the clock is in — a revalidated page's
 * URLs then still have at least half their lifetime; such a tag is weak (W/), its
 * bodies differ in their signatures. Built without reading a drawing. Quoted, in a;
 * NULL when out of memory.
 */
char *drawings_etag(const struct app *app, const char *user_id, int64_t version, const char *what,
                    struct arena *a);
