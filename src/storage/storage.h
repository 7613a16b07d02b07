/*
 * storage.h - the object storage interface (SPEC §7).
 *
 * A backend (local.c, s3.c) implements struct storage_ops; storage.c holds
 * the name table, key generation and validation, and thin wrappers that refuse a
 * bad key once, before any backend sees it. Every call is safe from any thread.
 *
 * Ownership: data passed in is borrowed; storage_get() returns malloc'd bytes the
 * caller frees; storage_url() allocates from the caller's arena.
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
    int fd;           /* caller closes (or hands to the HTTP library) */
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

struct storage_ops {
    const char *name; /* "local" | "s3" */
    enum err (*open)(const struct config *cfg, struct storage **out);
    void (*close)(struct storage *s);
    enum err (*put)(struct storage *s, const char *key, const void *data, size_t len,
                    const char *content_type);
    enum err (*get)(struct storage *s, const char *key, void **data, size_t *len);
    enum err (*del)(struct storage *s, const char *key);
    char *(*url)(struct storage *s, const char *key, struct arena *a);
    /* optional: NULL when the backend does not serve /media */
    enum err (*open_file)(struct storage *s, const char *key, struct storage_file *out);
    /* optional: is the store there and are we let in? NULL = always (local) */
    enum err (*check)(struct storage *s);
    /* optional: every object whose key starts with prefix (s3: in key order; local: a
     * sorted directory walk); NULL = unsupported */
    enum err (*list)(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx);
};

struct storage {
    const struct storage_ops *ops; /* first member of every backend's struct */
};

enum storage_kind_of_object { STORAGE_ORIGINAL, STORAGE_EDITED, STORAGE_THUMBNAIL };

/* Opens the backend cfg->storage_kind names. */
enum err storage_open(const struct config *cfg, struct storage **out);
void storage_close(struct storage *s); /* accepts NULL */

/* Writes atomically: a reader sees the whole object or nothing. Overwrites. */
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
 * ERR_NOT_FOUND (no such bucket), ERR_UNAUTHORIZED (refused), ERR_UNAVAILABLE. */
enum err storage_check(struct storage *s);

/* Lists objects under prefix ("" = all), calling fn for each; ERR_UNSUPPORTED if the
 * backend cannot list. Keys are reported as stored, not re-validated. */
enum err storage_list(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx);

/*
 * Proves the store is writable: PUTs a small object under users/.probe/ (a key no
 * client can name: storage_key_valid refuses it) and DELETEs it. Writes the key used
 * into key_out. Returns the first failure, or ERR_OK.
 */
enum err storage_probe(struct storage *s, char key_out[STORAGE_KEY_MAX]);

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
