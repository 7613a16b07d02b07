/*
 * storage.h - the object storage interface (SPEC §7).
 *
 * A backend (local.c, s3.c) implements struct storage_ops; storage.c holds
 * the name table, key generation and validation, and thin wrappers that refuse a
 * bad key once, before any backend sees it. Every call is safe from any thread.
 *
 * Put, get and delete are asynchronous (storage_*_async: a callback ends each call)
 * with synchronous wrappers over them (storage_put/get/del: submit, then wait) for
 * the callers that may block a thread: the job worker, gc and the CLI. The s3 backend runs its requests on the app's httpc
 * client (util/httpc.h), so no thread waits on a socket; the local backend does its
 * file work inline, on the caller's thread, before the async call returns.
 *
 * Ownership: data passed in is borrowed (by an async put until its callback has
 * run); got bytes are malloc'd and the receiver frees them; storage_url() allocates
 * from the caller's arena; the httpc client given to storage_open() is borrowed and
 * must outlive the storage.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "util/arena.h"
#include "util/err.h"

#define STORAGE_KEY_MAX 256

struct storage;

/* An open object for zero-copy serving (local backend only). */
struct storage_file {
    int fd; /* caller closes (or hands to the HTTP library) */
    uint64_t size;
    int64_t mtime_ns;
};

/* One object as a listing reports it; the strings live only during the callback. */
struct storage_object {
    const char *key;
    uint64_t size;
    int64_t mtime_ms; /* last modified, Unix milliseconds (0 if unknown) */
};

/* Called once per listed object; anything but ERR_OK stops the listing and is returned. */
typedef enum err (*storage_list_fn)(void *ctx, const struct storage_object *obj);

/* How an asynchronous put or delete ends: rc as the synchronous call would return it. */
typedef void (*storage_done_fn)(void *arg, enum err rc);
/* How an asynchronous get ends. On ERR_OK data is malloc'd (len bytes, never NULL, even
 * when len is 0) and the callback owns it; otherwise data is NULL and len 0. */
typedef void (*storage_got_fn)(void *arg, enum err rc, void *data, size_t len);

struct httpc;

struct storage_ops {
    const char *name; /* "local" | "s3" */
    /* http: borrowed, outlives the storage; a backend that makes no requests ignores it */
    enum err (*open)(const struct config *cfg, struct httpc *http, struct storage **out);
    void (*close)(struct storage *s);
    /* asynchronous, with the contract of storage_put_async() and the others below; keys
     * arrive validated */
    enum err (*put)(struct storage *s, const char *key, const void *data, size_t len,
                    const char *content_type, storage_done_fn done, void *arg);
    enum err (*get)(struct storage *s, const char *key, storage_got_fn got, void *arg);
    enum err (*del)(struct storage *s, const char *key, storage_done_fn done, void *arg);
    char *(*url)(struct storage *s, const char *key, struct arena *a);
    /* optional: NULL when the backend does not serve /media */
    enum err (*open_file)(struct storage *s, const char *key, struct storage_file *out);
    /* optional: is the store there and are we let in? NULL = always (local) */
    enum err (*check)(struct storage *s);
    /* optional: every object whose key starts with prefix (s3: in key order; local: a
     * sorted directory walk); NULL = unsupported */
    enum err (*list)(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx);
    /* optional: what interrupted writes left behind (local: temp files), with the
     * contract of storage_sweep(); NULL = nothing can be left (s3) */
    enum err (*sweep)(struct storage *s, int64_t cutoff_ms, bool dry_run, storage_list_fn fn,
                      void *ctx);
};

struct storage {
    const struct storage_ops *ops; /* first member of every backend's struct */
};

enum storage_kind_of_object { STORAGE_ORIGINAL, STORAGE_EDITED, STORAGE_THUMBNAIL };

/*
 * Opens the backend cfg->storage_kind names. http is borrowed and must stay open until
 * storage_close() has returned (s3 sends every request on it; ERR_INVALID if NULL for
 * s3; local ignores it). Close only when no asynchronous call is in flight.
 */
enum err storage_open(const struct config *cfg, struct httpc *http, struct storage **out);
void storage_close(struct storage *s); /* accepts NULL */

/*
 * The asynchronous calls. Contract, for all three:
 *  - The return value says whether the call was accepted. On ERR_OK the callback runs
 *    exactly once, later or (local) already before the call returns, with the outcome;
 *    on any error (a bad key or argument, no memory, the HTTP client closing) it never
 *    runs and nothing was done.
 *  - s3: the callback runs on the httpc thread. It must be quick (queue the next step on
 *    a pool) and must not call the synchronous storage_put/get/del, storage_check,
 *    storage_list or storage_probe (they would wait for the thread they block). It may
 *    start another asynchronous call.
 *  - local: the work is done inline and the callback runs on the caller's thread before
 *    the call returns; the caller must not hold a lock its callback takes.
 *  - Retries (s3: 5xx, 429, lost connections; 3 attempts within 30 s) happen inside;
 *    the callback sees the final outcome only.
 */

/* Writes atomically: a reader sees the whole object or nothing. Overwrites. data is
 * borrowed until done has run. done's rc: ERR_OK, ERR_UNAVAILABLE, ERR_NOMEM. */
enum err storage_put_async(struct storage *s, const char *key, const void *data, size_t len,
                           const char *content_type, storage_done_fn done, void *arg);
/* got's rc: ERR_OK, ERR_NOT_FOUND if absent, ERR_TOO_LARGE, ERR_UNAVAILABLE, ERR_NOMEM.
 * A key that is not valid is refused with ERR_NOT_FOUND (got not called). */
enum err storage_get_async(struct storage *s, const char *key, storage_got_fn got, void *arg);
/* Deleting an absent object is ERR_OK. done's rc: ERR_OK, ERR_UNAVAILABLE, ERR_NOMEM. */
enum err storage_del_async(struct storage *s, const char *key, storage_done_fn done, void *arg);

/*
 * The synchronous calls: the asynchronous ones above, then a wait (a mutex and a
 * condition variable) for their outcome, which they return. They block the calling
 * thread for up to the backend's deadline (s3: 30 s). Never call them from a storage or
 * httpc callback (on the httpc thread they would wait forever for themselves).
 */
enum err storage_put(struct storage *s, const char *key, const void *data, size_t len,
                     const char *content_type);
/* ERR_NOT_FOUND if absent. *data is malloc'd; the caller frees it. */
enum err storage_get(struct storage *s, const char *key, void **data, size_t *len);
/* Deleting an absent object is ERR_OK. */
enum err storage_del(struct storage *s, const char *key);
/* The URL a client fetches the object from; NULL on no memory. key must be one this
 * project wrote (from a row): unlike the other calls, this one does not re-validate it.
 * A data: URL (an image kept in its row while storage was down) is its own URL. */
char *storage_url(struct storage *s, const char *key, struct arena *a);
/* ERR_NOT_FOUND for a bad key, an absent object, or a backend that does not serve. */
enum err storage_open_file(struct storage *s, const char *key, struct storage_file *out);

/* ERR_OK if the store is reachable and accepts our credentials (S3: HEAD bucket);
 * ERR_NOT_FOUND (no such bucket), ERR_UNAUTHORIZED (refused), ERR_UNAVAILABLE.
 * Synchronous (waits like storage_put), and so is storage_list. */
enum err storage_check(struct storage *s);

/* Lists objects under prefix ("" = all), calling fn for each; ERR_UNSUPPORTED if the
 * backend cannot list. Keys are reported as stored, not re-validated. */
enum err storage_list(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx);

/*
 * Removes the leftovers of writes a crash interrupted (local: the temp files of
 * unfinished atomic writes, anywhere under the media root) last modified at or before
 * cutoff_ms, calling fn for each (obj->key: its path under the root) after its removal
 * (with dry_run: instead of it). A leftover that cannot be removed is logged and
 * skipped. Another server sharing the store may be writing: only a cutoff well past
 * any write's duration is safe. ERR_OK when the backend leaves nothing (s3). Synchronous.
 */
enum err storage_sweep(struct storage *s, int64_t cutoff_ms, bool dry_run, storage_list_fn fn,
                       void *ctx);

/*
 * Proves the store is writable: PUTs a small object under users/.probe/ (a key no
 * client can name: storage_key_valid refuses it) and DELETEs it. Writes the key used
 * into key_out. Returns the first failure, or ERR_OK. Synchronous.
 */
enum err storage_probe(struct storage *s, char key_out[STORAGE_KEY_MAX]);

/* For tests: the local backend resolves paths by its O_NOFOLLOW walk, as on a kernel
 * without openat2 (it switches to the walk by itself when openat2 answers ENOSYS). */
void storage_local_test_without_openat2(bool without);

/* S3 settings as the s3 backend derives them (for `novadraw storage check`), from the
 * caller's arena; NULL on no memory. Region: SPACES_REGION, else from the endpoint host
 * (nyc3.digitaloceanspaces.com -> nyc3, s3.eu-west-1.amazonaws.com -> eu-west-1), else
 * us-east-1. Public base: SPACES_PUBLIC_URL, else STORAGE_ENDPOINT_URL/SPACES_BUCKET. */
char *storage_s3_region(const struct config *cfg, struct arena *a);
char *storage_s3_public_base(const struct config *cfg, struct arena *a);

/*
 * True if key is one this project could have written: printable ASCII from
 * [A-Za-z0-9._/-], segments neither empty nor starting with '.', no leading '/',
 * at most STORAGE_KEY_MAX bytes, ending in .png or .webp.
 */
bool storage_key_valid(const char *key);

/*
 * Writes a new key users/{user_id}/{original|edited|thumbnail}/{YYYYmmdd_HHMMSS_mmm}_{32 hex}
 * .{png|webp} for the time now_ms into out (STORAGE_KEY_MAX bytes). False if user_id is not
 * a canonical UUID or randomness failed.
 */
bool storage_key_new(const char *user_id, enum storage_kind_of_object kind, int64_t now_ms,
                     char out[STORAGE_KEY_MAX]);

/* "image/png", "image/webp", or "application/octet-stream", by the key's extension. */
const char *storage_content_type(const char *key);

extern const struct storage_ops storage_local_ops;
extern const struct storage_ops storage_s3_ops;
