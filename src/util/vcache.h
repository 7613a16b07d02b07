/*
 * vcache.h - a bounded, thread-safe map from a key's SHA-256 to a value computed at
 * some version of the data it describes: "is the answer I computed at version v still
 * here?" in one short probe. The caller owns the meaning of the version (db.c: the
 * user's gallery version, which grows with every change) and compares it; a value
 * never outlives a version change, so the map is never stale, only missing.
 *
 * Bounded: a fixed table, one entry a slot; a new key takes its slot from whatever
 * was there, so a caller treats "not found" as "compute it".
 *
 * Ownership: vcache_new() allocates, vcache_free() frees (accepts NULL); keys are
 * borrowed for the call. Thread-safe: slots are guarded by VCACHE_STRIPES mutexes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/digest.h"
#include "util/err.h"

#define VCACHE_STRIPES 32

struct vcache;

/* A map of at most capacity entries (rounded down to a power of two, at least 1). */
enum err vcache_new(size_t capacity, struct vcache **out);
void vcache_free(struct vcache *c);

/* The key of the bytes [data, data + len). */
void vcache_key(const void *data, size_t len, unsigned char key[DIGEST_SHA256_LEN]);

/* True, with the version and the value stored for key, if it is held. False for a
 * NULL c. */
bool vcache_get(struct vcache *c, const unsigned char key[DIGEST_SHA256_LEN], int64_t *version,
                int64_t *value);
/* Holds (version, value) for key, in place of whatever its slot held. Accepts NULL c. */
void vcache_put(struct vcache *c, const unsigned char key[DIGEST_SHA256_LEN], int64_t version,
                int64_t value);
