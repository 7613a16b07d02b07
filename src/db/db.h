/*
 * db.h - the database interface and the records it stores.
 *
 * Every operation is written once, in db.c, over the small driver interface that
 * each backend implements (driver.h: sqlite.c, postgres.c); its SQL lives in one
 * table (sql.h, queries.inc). Every call is safe from any thread: backends keep
 * one connection per thread or a pool.
 *
 * Ownership: records returned by the db_* getters live in the caller's arena and
 * die with it; records passed in are borrowed. Ownership of every drawing is
 * checked in the SQL itself (WHERE user_id = ?): another user's drawing is
 * ERR_NOT_FOUND, exactly as if it did not exist.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/id.h"

struct edit {
    char *image_key;        /* storage key of the edited PNG */
    char *thumbnail_key;    /* storage key of its WebP thumbnail, or NULL */
    char *prompt;           /* what was asked, or what was heard */
    char *source;           /* "text" | "audio" */
    int64_t created_at;     /* ms since the epoch */
    bool image_pending;     /* read only: kept in the database until storage takes it */
    bool thumbnail_pending; /* likewise */
};

struct drawing {
    char id[ID_UUID_LEN];
    char user_id[ID_UUID_LEN];
    char *tutorial_id;   /* canonical UUID, or NULL */
    char *original_key;  /* storage key of the uploaded PNG */
    char *thumbnail_key; /* storage key of its WebP thumbnail, or NULL */
    int64_t created_at, updated_at;
    struct edit *edits; /* oldest first */
    size_t n_edits;
    bool original_pending, thumbnail_pending; /* read only, as in struct edit */
};

struct tutorial {
    char id[ID_UUID_LEN];
    char *title;
    int64_t created_at;
};

struct drawing_stats {
    int64_t total_drawings, edited_drawings, tutorial_drawings;
};

/* What a background job does with its object. */
enum job_kind {
    JOB_DELETE, /* delete it from storage */
    JOB_UPLOAD, /* store it from the pending table, then drop it there */
};

/* A queued background job (db_job_claim). */
struct db_job {
    int64_t id;
    enum job_kind kind;
    char *object_key; /* the storage key it is about */
    int64_t attempts; /* failed runs so far */
};

/*
 * An object storage refused (after its retries): its bytes are kept in the database,
 * in the same transaction as the row that names its key, until an upload job stores
 * it (db_pending_get, then db_pending_done). Borrowed by the calls that take it.
 */
struct db_pending {
    const char *key;
    const char *content_type;
    const void *bytes;
    size_t len;
};

/* Called once per referenced storage key; anything but ERR_OK stops and is returned.
 * The key lives only during the call. */
typedef enum err (*db_key_fn)(void *ctx, const char *key);

struct db; /* a backend (driver.h) */

/* Opens the backend cfg->db_kind names. Does not migrate: call db_migrate(). */
enum err db_open(const struct config *cfg, struct db **out);
/* Closes and frees. Accepts NULL. */
void db_close(struct db *db);
/* The backend's name: "sqlite" | "postgres". */
const char *db_name(const struct db *db);

/* Brings the schema up to date; safe to call on every start. */
enum err db_migrate(struct db *db);
/* ERR_OK if the database answers. */
enum err db_ping(struct db *db);

/* Creates the user row on first sight; cached, so the common case is no query. */
enum err db_user_ensure(struct db *db, const char *user_id);

/* ERR_CONFLICT if the id exists. */
enum err db_tutorial_add(struct db *db, const struct tutorial *t);
/* ERR_OK or ERR_NOT_FOUND. */
enum err db_tutorial_exists(struct db *db, const char *id);
/* Oldest first. */
enum err db_tutorial_list(struct db *db, struct arena *a, struct tutorial **out, size_t *n);

/* Inserts the drawing and its edits, and keeps the n_pending objects storage refused
 * (each with its upload job), in one transaction. */
enum err db_drawing_insert(struct db *db, const struct drawing *d, const struct db_pending *pending,
                           size_t n_pending);
/* ERR_NOT_FOUND if absent or not user_id's. */
enum err db_drawing_get(struct db *db, const char *user_id, const char *id, struct arena *a,
                        struct drawing *out);
/* One page, newest first (created_at DESC, id DESC), edits included, no N+1; *total
 * is the user's number of drawings. */
enum err db_drawing_list(struct db *db, const char *user_id, int64_t offset, int64_t limit,
                         struct arena *a, struct drawing **out, size_t *n, int64_t *total);
/*
 * The gallery's filters (SPEC §11). from_ms <= created_at < to_ms: GALLERY_TIME_MIN
 * and GALLERY_TIME_MAX (years 1 and 10000) when unbounded. words: words_normalize()
 * of q (util/words.h), every word of it a prefix of a word of the drawing's edit
 * prompts; NULL for no search. Borrowed.
 */
#define GALLERY_TIME_MIN (-62135596800000LL) /* 0001-01-01T00:00:00Z */
#define GALLERY_TIME_MAX 253402300800000LL   /* 10000-01-01T00:00:00Z */
struct gallery_filter {
    const char *tutorial_id; /* canonical UUID, or NULL */
    int64_t from_ms, to_ms;
    int edited;        /* -1: any; 0: without edits; 1: with */
    const char *words; /* or NULL */
    bool oldest_first; /* sort=oldest: created_at, then id, ascending */
};
/* No filter: every drawing, newest first. */
#define GALLERY_FILTER_NONE                                                                        \
    ((struct gallery_filter){.from_ms = GALLERY_TIME_MIN, .to_ms = GALLERY_TIME_MAX, .edited = -1})

/* As db_drawing_list, of the drawings f lets through, in its order; *total is how many
 * it lets through. Every filter is answered from an index (queries.inc). */
enum err db_gallery_list(struct db *db, const char *user_id, const struct gallery_filter *f,
                         int64_t offset, int64_t limit, struct arena *a, struct drawing **out,
                         size_t *n, int64_t *total);

/* The user's gallery version: it grows with every change of what their gallery or one
 * of their drawings shows (a drawing or edit added or deleted, a pending object
 * stored); kept by triggers. 0 for a user without a row. */
enum err db_user_version(struct db *db, const char *user_id, int64_t *out);

/* Deletes the row and its edits; *out receives what was deleted (its storage keys),
 * so the caller can delete the objects. ERR_NOT_FOUND if absent or not user_id's. */
enum err db_drawing_delete(struct db *db, const char *user_id, const char *id, struct arena *a,
                           struct drawing *out);
/* Appends an edit to user_id's drawing and bumps updated_at, keeping the pending
 * objects as db_drawing_insert does, in one transaction. ERR_NOT_FOUND if not theirs. */
enum err db_edit_append(struct db *db, const char *user_id, const char *drawing_id,
                        const struct edit *e, const struct db_pending *pending, size_t n_pending);
enum err db_stats(struct db *db, const char *user_id, struct drawing_stats *out);

/*
 * The durable job queue, safe with several servers on one database. A job is due
 * when run_at <= now and it holds no live lease. db_job_claim takes the oldest due
 * job for exactly one caller, leasing it until now + lease_ms (a server that dies
 * holding it loses it when the lease expires); ERR_NOT_FOUND when none is due.
 * out->object_key lives in the arena.
 */
enum err db_job_add(struct db *db, enum job_kind kind, const char *key); /* due now */
enum err db_job_claim(struct db *db, int64_t now_ms, int64_t lease_ms, struct arena *a,
                      struct db_job *out);
/* The job is finished: removed. */
enum err db_job_done(struct db *db, int64_t id);
/* The run failed: attempts + 1, due again at next_run_at, lease cleared. */
enum err db_job_retry(struct db *db, int64_t id, int64_t next_run_at, const char *error);
/* Every storage key a row references (drawings' and edits' images and thumbnails),
 * in one streamed query; a key may be reported more than once. */
enum err db_keys_referenced(struct db *db, db_key_fn fn, void *ctx);

/* A pending object's bytes and content type, in the arena; ERR_NOT_FOUND once it is
 * stored or its drawing deleted. */
enum err db_pending_get(struct db *db, const char *key, struct arena *a, struct db_pending *out);
/* The object is stored: forget its bytes. ERR_NOT_FOUND if they were already gone
 * (its drawing was deleted meanwhile: the caller deletes the object it stored). */
enum err db_pending_done(struct db *db, const char *key);
