/*
 * auth_cache.h - a bounded cache of verified access tokens, so a request whose token
 * was verified before skips the HMAC and the JSON decoding (auth.h) until the token
 * expires.
 *
 * Only successes are kept: a token that auth_verify accepted at some time is accepted
 * at every later time before its exp (nbf and iat only get easier to meet), and the
 * secret does not change while the process runs. The cache answers what auth_verify
 * would, user id and iat included; what the caller does with them (the tombstone of a
 * deleted account, checked by db_user_admit against the iat) is unchanged, so a
 * deleted account's token is still refused on every request.
 *
 * Keyed by the token's SHA-256 (the token itself is not kept). Bounded: a fixed table
 * of sets of AUTH_CACHE_WAYS entries; a new entry takes an empty or expired slot of
 * its set, else the least recently used one. Thread-safe without a global lock: the
 * sets are guarded by AUTH_CACHE_STRIPES mutexes, a set always by the same one.
 *
 * Ownership: auth_cache_new() allocates, auth_cache_free() frees (accepts NULL).
 * Tokens and the struct auth are borrowed for the call.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "util/err.h"
#include "util/id.h"

#define AUTH_CACHE_WAYS 4
#define AUTH_CACHE_STRIPES 64
#define AUTH_CACHE_DEFAULT 8192 /* entries: about 1 MiB */

struct auth_cache;

/* A cache of at most capacity entries (rounded down to a power of two times the
 * ways, at least AUTH_CACHE_WAYS). */
enum err auth_cache_new(size_t capacity, struct auth_cache **out);
void auth_cache_free(struct auth_cache *c);

/*
 * auth_verify(a, token, now, user_id, issued_at, expired) through the cache: a token
 * seen verified, and not expired at now, is answered from it. With c NULL, auth_verify.
 */
enum err auth_cache_verify(struct auth_cache *c, const struct auth *a, const char *token,
                           int64_t now, char user_id[ID_UUID_LEN], int64_t *issued_at,
                           bool *expired);

/* How many entries it holds now, and how many it can (for tests). */
size_t auth_cache_count(struct auth_cache *c);
size_t auth_cache_capacity(const struct auth_cache *c);
