/*
 * db.h - the database interface and the records it stores.
 *
 * A backend (sqlite.c, postgres.c) implements struct db_ops; db.c holds the
 * name table and thin wrappers that check arguments once, then dispatch. Every
 * call is safe from any thread: backends keep one connection per thread or a pool.
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
    char *image_key;     /* storage key of the edited PNG */
    char *thumbnail_key; /* storage key of its WebP thumbnail, or NULL */
    char *prompt;        /* what was asked, or what was heard */
    char *source;        /* "text" | "audio" */
    int64_t created_at;  /* ms since the epoch */
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
};

struct tutorial {
    char id[ID_UUID_LEN];
    char *title;
    int64_t created_at;
};

struct drawing_stats {
    int64_t total_drawings, edited_drawings, tutorial_drawings;
};

/* A queued background job (db_job_claim). */
struct db_job {
    int64_t id;
    char *kind;       /* "delete" */
    char *object_key; /* the storage key it is about */
    char *ref;        /* what else it needs ("upload": the drawing's id), or NULL */
    int64_t attempts; /* failed runs so far */
};

/* Called once per referenced storage key; anything but ERR_OK stops and is returned.
 * The key lives only during the call. */
typedef enum err (*db_key_fn)(void *ctx, const char *key);

struct db;

struct db_ops {
    const char *name; /* "sqlite" | "postgres" */
    enum err (*open)(const struct config *cfg, struct db **out);
    void (*close)(struct db *db);
    enum err (*migrate)(struct db *db);
    enum err (*ping)(struct db *db);

    enum err (*user_ensure)(struct db *db, const char *user_id);

    enum err (*tutorial_add)(struct db *db, const struct tutorial *t);
    enum err (*tutorial_exists)(struct db *db, const char *id);
    enum err (*tutorial_list)(struct db *db, struct arena *a, struct tutorial **out, size_t *n);

    enum err (*drawing_insert)(struct db *db, const struct drawing *d);
    enum err (*drawing_get)(struct db *db, const char *user_id, const char *id, struct arena *a,
                            struct drawing *out);
    enum err (*drawing_list)(struct db *db, const char *user_id, int64_t offset, int64_t limit,
                             struct arena *a, struct drawing **out, size_t *n, int64_t *total);
    enum err (*drawing_delete)(struct db *db, const char *user_id, const char *id, struct arena *a,
                               struct drawing *out);
    enum err (*edit_append)(struct db *db, const char *user_id, const char *drawing_id,
                            const struct edit *e);
    enum err (*stats)(struct db *db, const char *user_id, struct drawing_stats *out);

    enum err (*job_add)(struct db *db, const char *kind, const char *key, const char *ref,
                        int64_t now_ms);
    enum err (*job_claim)(struct db *db, int64_t now_ms, int64_t lease_ms, struct arena *a,
                          struct db_job *out);
    enum err (*job_done)(struct db *db, int64_t id);
    enum err (*job_retry)(struct db *db, int64_t id, int64_t next_run_at, const char *error);
    enum err (*keys_referenced)(struct db *db, db_key_fn fn, void *ctx);
    enum err (*data_url_get)(struct db *db, const char *drawing_id, bool original, struct arena *a,
                             char **out);
    enum err (*data_url_swap)(struct db *db, const char *drawing_id, bool original,
                              const char *data_url, const char *key);
};

/* Every backend's struct starts with this. */
struct db {
    const struct db_ops *ops;
    struct user_cache *seen; /* users known to exist; owned by db.c */
};

/* Opens the backend cfg->db_kind names. Does not migrate: call db_migrate(). */
enum err db_open(const struct config *cfg, struct db **out);
/* Closes and frees. Accepts NULL. */
void db_close(struct db *db);

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

/* Inserts the drawing and its edits in one transaction. */
enum err db_drawing_insert(struct db *db, const struct drawing *d);
/* ERR_NOT_FOUND if absent or not user_id's. */
enum err db_drawing_get(struct db *db, const char *user_id, const char *id, struct arena *a,
                        struct drawing *out);
/* One page, newest first (created_at DESC, id DESC), edits included, no N+1; *total
 * is the user's number of drawings. */
enum err db_drawing_list(struct db *db, const char *user_id, int64_t offset, int64_t limit,
                         struct arena *a, struct drawing **out, size_t *n, int64_t *total);
/* Deletes the row and its edits; *out receives what was deleted (its storage keys),
 * so the caller can delete the objects. ERR_NOT_FOUND if absent or not user_id's. */
enum err db_drawing_delete(struct db *db, const char *user_id, const char *id, struct arena *a,
                           struct drawing *out);
/* Appends an edit to user_id's drawing and bumps updated_at. ERR_NOT_FOUND if not theirs. */
enum err db_edit_append(struct db *db, const char *user_id, const char *drawing_id,
                        const struct edit *e);
enum err db_stats(struct db *db, const char *user_id, struct drawing_stats *out);

/*
 * The durable job queue, safe with several servers on one database. A job is due
 * when run_at <= now and it holds no live lease. db_job_claim takes the oldest due
 * job for exactly one caller, leasing it until now + lease_ms (a server that dies
 * holding it loses it when the lease expires); ERR_NOT_FOUND when none is due.
 * out->kind and out->object_key live in the arena.
 */
enum err db_job_add(struct db *db, const char *kind, const char *key); /* due now */
/* The same with a reference the job needs (ref may be NULL). */
enum err db_job_add_ref(struct db *db, const char *kind, const char *key, const char *ref);
enum err db_job_claim(struct db *db, int64_t now_ms, int64_t lease_ms, struct arena *a,
                      struct db_job *out);
/* The job is finished: removed. */
enum err db_job_done(struct db *db, int64_t id);
/* The run failed: attempts + 1, due again at next_run_at, lease cleared. */
enum err db_job_retry(struct db *db, int64_t id, int64_t next_run_at, const char *error);
/* Every storage key a row references (drawings' and edits' images and thumbnails),
 * in one streamed query; a key may be reported more than once. */
enum err db_keys_referenced(struct db *db, db_key_fn fn, void *ctx);

/*
 * The storage fallback: an image that could not be stored is kept in its row as a
 * data: URL (drawings.original_key when original, else an edit's image_key), until
 * a job uploads it. db_data_url_get gives the drawing's first such URL (ERR_NOT_FOUND
 * if none); db_data_url_swap replaces that URL by key, only if it is still there
 * (ERR_NOT_FOUND otherwise: deleted or swapped meanwhile).
 */
enum err db_data_url_get(struct db *db, const char *drawing_id, bool original, struct arena *a,
                         char **out);
enum err db_data_url_swap(struct db *db, const char *drawing_id, bool original,
                          const char *data_url, const char *key);

/* Backends, for db.c's table. */
extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_postgres_ops;
