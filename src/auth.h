/*
 * auth.h - access tokens (SPEC §4): HS256 JWTs whose sub is the user's UUID.
 *
 * Verification is strict where libjwt 1.10 is lax: the key is always passed, the
 * header must say HS256, exp is required and enforced to the second (as PyJWT
 * does), nbf and iat are honoured with a small skew for clocks that run ahead, sub
 * must be a UUID. The secret is JWT_SECRET, or 32 random
 * bytes generated once into DATA_DIR/jwt_secret (mode 0600) and shared by
 * `serve` and `token`. Thread-safe after auth_open(); struct auth is read-only.
 */
#pragma once

#include <stdint.h>

#include "config.h"
#include "util/err.h"
#include "util/id.h"

#define AUTH_SKEW_SECONDS 30

struct auth;

/* Loads or generates the secret. */
enum err auth_open(const struct config *cfg, struct auth **out);
void auth_close(struct auth *a); /* accepts NULL; wipes the secret */

/*
 * Verifies a token (the text after "Bearer ") at time now (seconds). On success
 * writes the canonical user id and, if issued_at is not NULL, the iat claim in
 * seconds (-1 when the token has none). Any failure is ERR_UNAUTHORIZED.
 */
enum err auth_verify(const struct auth *a, const char *token, int64_t now,
                     char user_id[ID_UUID_LEN], int64_t *issued_at);

/* auth_verify, also writing the exp claim (seconds) to *expires if not NULL: the
 * answer stays the same until then (auth_cache.h relies on it). */
enum err auth_verify_until(const struct auth *a, const char *token, int64_t now,
                           char user_id[ID_UUID_LEN], int64_t *issued_at, int64_t *expires);

/* Mints a token for user_id valid ttl seconds from now. *out is malloc'd. */
enum err auth_mint(const struct auth *a, const char *user_id, int64_t now, long ttl, char **out);

/* For tests: an auth over an explicit secret. */
enum err auth_open_secret(const char *secret, size_t len, struct auth **out);
