/*
 * body_cache.h - the bodies of conditional GETs (SPEC §11), kept by their tag: the
 * gallery page or drawing that a tag stands for is written once, and every later
 * request that computes the same tag (and does not already hold it, which is a 304)
 * gets the same bytes without a database read or a JSON write.
 *
 * Sound because a strong tag (drawings_etag) names everything a body depends on: the
 * user, the normalised query, the user's gallery version (which every change of the
 * gallery moves, on any server, kept by the database's triggers) and the process's
 * storage configuration. Weak tags (presigned URLs, whose bodies change with time)
 * are never kept. The key is the SHA-256 of (user, query, version, tag), so two users
 * never share an entry, nor two versions of one query, even if their tags collide.
 *
 * Bounded: BODY_CACHE_SLOTS slots, one body a slot (a new key takes its slot), bodies
 * of at most BODY_CACHE_MAX_BODY bytes, and the configured bytes in all (BODY_CACHE):
 * a body that would pass them first evicts others, a clock hand going round the
 * slots, so bodies of versions no one asks for any more make room. A miss is only a
 * miss: the caller answers as it would have.
 *
 * Ownership: body_cache_new() allocates, body_cache_free() frees (accepts NULL). The
 * cache keeps its own copies; body_cache_get() hands the caller a malloc'd copy.
 * Thread-safe: slots are guarded by BODY_CACHE_STRIPES mutexes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BODY_CACHE_SLOTS 2048
#define BODY_CACHE_STRIPES 32
#define BODY_CACHE_MAX_BODY (512 * 1024)

struct body_cache;

/* A cache of at most max_bytes of bodies; *out is NULL (no cache) for 0. */
enum err body_cache_new(size_t max_bytes, struct body_cache **out);
void body_cache_free(struct body_cache *c);

/* What a body is kept under: its user, normalised query, the user's gallery version
 * and the tag computed from them (all borrowed for the call). */
struct body_key {
    const char *user_id, *what, *etag;
    int64_t version;
};

/* True, with a malloc'd copy of the body kept for k in *body and its length in *len,
 * if there is one. False for a NULL c, a weak tag, or no memory. */
bool body_cache_get(struct body_cache *c, const struct body_key *k, char **body, size_t *len);
/* Keeps a copy of body for k, within the bounds. Accepts NULL c. */
void body_cache_put(struct body_cache *c, const struct body_key *k, const char *body,
                    size_t len);

/* Bytes of bodies held now (for tests and metrics). */
size_t body_cache_bytes(struct body_cache *c);
