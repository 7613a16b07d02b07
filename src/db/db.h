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
    char *applied;          /* the local editor's operations, canonical names joined by
                             * ", " (SPEC §16); NULL with a remote editor or from before */
    char *ignored;          /* the prompt's words it did not use; NULL likewise */
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

/*
 * db_user_ensure() for a request's access token issued at issued_at_ms (-1: no
 * iat): ERR_UNAUTHORIZED if the account was deleted at or after that time (its
 * tombstone). Cached like db_user_ensure(); the cache is emptied every
 * DB_SEEN_TTL_MS, so a deletion on another server is seen within that time (at
 * once on this one).
 */
#define DB_SEEN_TTL_MS 10000
enum err db_user_admit(struct db *db, const char *user_id, int64_t issued_at_ms);

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
 * it lets through. Every filter is answered from an index (queries.inc); a search's
 * total is counted once for each version of the user's gallery (db_user_version) and
 * kept in memory, bounded, until the version changes. */
enum err db_gallery_list(struct db *db, const char *user_id, const struct gallery_filter *f,
                         int64_t offset, int64_t limit, struct arena *a, struct drawing **out,
                         size_t *n, int64_t *total);

/* The user's gallery version: it grows with every change of what their gallery or one
 * of their drawings shows (a drawing or edit added or deleted, a pending object
 * stored); kept by triggers. It starts at the row's creation time (ms) * 1024, so a
 * user row made again for the same id does not repeat the versions of the one before.
 * -1 for a user without a row (never seen, or deleted), which no row has. */
enum err db_user_version(struct db *db, const char *user_id, int64_t *out);

/* Deletes the row and its edits; *out receives what was deleted (its storage keys),
 * so the caller can delete the objects. ERR_NOT_FOUND if absent or not user_id's. */
enum err db_drawing_delete(struct db *db, const char *user_id, const char *id, struct arena *a,
                           struct drawing *out);
/*
 * Deletes those of user_id's drawings whose ids are among ids[0..n) (1 <= n <=
 * DB_DELETE_MANY_MAX), with their edits and pending objects, in one transaction of two
 * statements (the rows read under lock, then deleted) whatever n is. An id that is
 * absent, another user's, not a canonical UUID or repeated is skipped. *out receives the
 * *n_out drawings deleted, in no particular order, with their storage keys (as
 * db_drawing_delete gives them), so the caller can delete the objects and tell which
 * ids were found.
 */
#define DB_DELETE_MANY_MAX 1000
enum err db_drawings_delete_many(struct db *db, const char *user_id, const char *const *ids,
                                 size_t n, struct arena *a, struct drawing **out, size_t *n_out);
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
/* How many jobs of each kind are queued (due, leased or waiting): one query. */
enum err db_job_pending(struct db *db, int64_t *uploads, int64_t *deletes);
/* Every storage key a row references (drawings' and edits' images and thumbnails),
 * in one streamed query; a key may be reported more than once. */
enum err db_keys_referenced(struct db *db, db_key_fn fn, void *ctx);

/* A pending object's bytes and content type, in the arena; ERR_NOT_FOUND once it is
 * stored or its drawing deleted. */
enum err db_pending_get(struct db *db, const char *key, struct arena *a, struct db_pending *out);
/* ---- accounts (SPEC §12) ---- */

#define DB_HASH_LEN 32 /* SHA-256: refresh tokens and e-mails are looked up by it */

struct account {
    char id[ID_UUID_LEN];
    char *email;         /* normalised; NULL for a user known only from outside tokens */
    char *password_hash; /* PHC string, or NULL */
    int64_t created_at;
};

/* A new account row; ERR_CONFLICT if the e-mail is taken. */
enum err db_account_create(struct db *db, const struct account *acct);
/* An account by e-mail or by id, strings in the arena; ERR_NOT_FOUND. */
enum err db_account_by_email(struct db *db, const char *email, struct arena *a,
                             struct account *out);
enum err db_account_get(struct db *db, const char *user_id, struct arena *a, struct account *out);
/* Stores a new password hash and revokes every refresh token of the user, in one
 * transaction. ERR_NOT_FOUND if there is no such user. */
enum err db_account_set_password(struct db *db, const char *user_id, const char *hash);
/*
 * Deletes a user in one transaction: every stored object of their drawings is
 * queued for deletion (JOB_DELETE; *n_objects gets how many, may be NULL), then
 * the drawings (edits, pending images and shares go with them), refresh tokens and
 * the row; a tombstone at now_ms refuses access tokens issued before it.
 * ERR_NOT_FOUND if there is no such user.
 */
enum err db_account_delete(struct db *db, const char *user_id, int64_t now_ms, int64_t *n_objects);

/* What a refresh token grants. */
struct refresh_grant {
    char user_id[ID_UUID_LEN];
    char family[ID_UUID_LEN]; /* the login it descends from */
    char *email;              /* in the arena; NULL for an account without one */
};

/* Records a refresh token (its hash) of family for user_id. */
enum err db_refresh_add(struct db *db, const unsigned char hash[DB_HASH_LEN], const char *family,
                        const char *user_id, int64_t now_ms, int64_t expires_ms);
/*
 * Spends the refresh token of hash and records its successor (new_hash, same
 * family, expiring at new_expires_ms), in one transaction. ERR_OK: *out is the
 * grant. ERR_UNAUTHORIZED: unknown or expired. ERR_CONFLICT: already spent; the
 * whole family is revoked and *out says whose it was (for the log).
 */
enum err db_refresh_rotate(struct db *db, const unsigned char hash[DB_HASH_LEN],
                           const unsigned char new_hash[DB_HASH_LEN], int64_t now_ms,
                           int64_t new_expires_ms, struct arena *a, struct refresh_grant *out);
/* Revokes the family of the token of hash (logout); ERR_NOT_FOUND if unknown. */
enum err db_refresh_revoke(struct db *db, const unsigned char hash[DB_HASH_LEN]);
/* Forgets the user's expired refresh tokens. */
enum err db_refresh_prune(struct db *db, const char *user_id, int64_t now_ms);

/*
 * Failed sign-ins per e-mail (by hash, registered or not), shared by every server.
 * db_login_locked_until: *until_ms is when the e-mail may try again, or 0 when
 * fewer than limit failures fall in the window ending at now_ms.
 */
enum err db_login_locked_until(struct db *db, const unsigned char email_hash[DB_HASH_LEN],
                               int64_t now_ms, int64_t window_ms, int limit, int64_t *until_ms);
/* Records a failure, and forgets every failure older than the window. */
enum err db_login_failed(struct db *db, const unsigned char email_hash[DB_HASH_LEN],
                         int64_t now_ms, int64_t window_ms);
/* A success forgets the e-mail's failures. */
enum err db_login_cleared(struct db *db, const unsigned char email_hash[DB_HASH_LEN]);

/* The object is stored: forget its bytes. ERR_NOT_FOUND if they were already gone
 * (its drawing was deleted meanwhile: the caller deletes the object it stored). */
enum err db_pending_done(struct db *db, const char *key);

/*
 * Share links (SPEC §11). A link is found by the SHA-256 of its token (shares.h
 * makes both), never by the token itself; it belongs to its drawing's owner and
 * goes with the drawing (ON DELETE CASCADE). A revoked link is deleted.
 */
#define DB_SHARE_HASH_LEN 32

struct share {
    char *token;        /* as its owner was given it */
    int64_t created_at; /* ms since the epoch */
    int64_t expires_at; /* ms since the epoch; only when expires */
    bool expires;       /* false: never */
    int64_t views;      /* read only: public views so far */
};

/* Records link s (token, times) to user_id's drawing with its token's hash.
 * ERR_NOT_FOUND if the drawing is not theirs; ERR_CONFLICT if the hash exists. */
enum err db_share_add(struct db *db, const char *user_id, const char *drawing_id,
                      const unsigned char hash[DB_SHARE_HASH_LEN], const struct share *s);
/* The links of user_id's drawing, newest first (created_at, then creation order),
 * expired ones included; ERR_NOT_FOUND if the drawing is not theirs. */
enum err db_share_list(struct db *db, const char *user_id, const char *drawing_id,
                       struct arena *a, struct share **out, size_t *n);
/* Deletes the link of this hash if its drawing is user_id's; else ERR_NOT_FOUND. */
enum err db_share_revoke(struct db *db, const char *user_id,
                         const unsigned char hash[DB_SHARE_HASH_LEN]);
/* The drawing (edits included) the link of this hash shows, counting one view in the
 * same transaction; ERR_NOT_FOUND if there is no such link or it expired at or
 * before now_ms. */
enum err db_share_open(struct db *db, const unsigned char hash[DB_SHARE_HASH_LEN], int64_t now_ms,
                       struct arena *a, struct drawing *out);

/*
 * Rate limits and idempotency keys (SPEC §14), shared by every server on the database.
 *
 * db_rate_hit counts one edit of user_id in minute (ms / 60000) and gives the count so
 * far, in one atomic statement; db_rate_prune forgets minutes before `before`.
 */
enum err db_rate_hit(struct db *db, const char *user_id, int64_t minute, int64_t *count);
enum err db_rate_prune(struct db *db, int64_t before, int64_t *n);

/* A bounded step of keeping the search index compact (SQLite: merging its segments;
 * nothing on PostgreSQL). The job worker's sweep calls it. */
enum err db_search_merge(struct db *db);

/* A key's row as db_idem_claim found it (strings in the caller's arena). */
struct db_idem {
    char *fingerprint;
    bool done;          /* false: still running */
    int status;         /* done: the answer's */
    char *content_type; /* done: or NULL */
    char *headers;      /* done: "Name: value\n" lines, or NULL */
    char *body;         /* done: or NULL */
};

/*
 * Claims (user_id, key) for this request (fingerprint) as owner, until lease_until_ms:
 * ERR_OK when the key is new, expired (created at or before expired_ms: it is made
 * new), or still running past its lease with the same fingerprint (taken over; the
 * old owner can no longer complete it). Otherwise ERR_CONFLICT with *out the row as
 * it is (another request's, running or done). One statement, then a read.
 */
enum err db_idem_claim(struct db *db, const char *user_id, const char *key,
                       const char *fingerprint, const char *owner, int64_t now_ms,
                       int64_t lease_until_ms, int64_t expired_ms, struct arena *a,
                       struct db_idem *out);
/* The final answer of owner's claim, in one statement: ERR_NOT_FOUND if the claim is
 * no longer owner's (taken over, or expired and pruned). headers, content_type may be
 * NULL; body is text. */
enum err db_idem_complete(struct db *db, const char *user_id, const char *key, const char *owner,
                          int status, const char *content_type, const char *headers,
                          const char *body);
/* Gives owner's running claim up (the key may be used again at once). */
enum err db_idem_release(struct db *db, const char *user_id, const char *key, const char *owner);
/* Whether user_id has a row for key created after after_ms. */
enum err db_idem_exists(struct db *db, const char *user_id, const char *key, int64_t after_ms,
                        bool *exists);
/* Deletes the keys created at or before before_ms; *n (may be NULL) gets how many. */
enum err db_idem_prune(struct db *db, int64_t before_ms, int64_t *n);
