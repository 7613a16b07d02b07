/*
 * auth.h - access tokens (SPEC §4): HS256 JWTs whose sub is the user's UUID.
 *
 * Verification is strict where libjwt 1.10 is lax: the key is always passed, the
 * header must say HS256, exp is required and enforced to the second (as PyJWT
 * does), nbf and iat are honoured with a small skew for clocks that run ahead, sub
 * must be a UUID. The secret is JWT_SECRET, or 32 random
 * bytes generated once by `serve` into DATA_DIR/jwt_secret (mode 0600), which
 * `token` reads (and never makes). Thread-safe after auth_open(); struct auth is read-only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "util/err.h"
#include "util/id.h"

#define AUTH_SKEW_SECONDS 30
#define AUTH_SECRET_FILE "jwt_secret" /* in DATA_DIR */

struct auth;

/*
 * JWT_SECRET, else DATA_DIR/jwt_secret. With create (serve) a missing file is
 * generated (and DATA_DIR made); without (token) it is ERR_NOT_FOUND and nothing is
 * written: a secret made elsewhere would sign tokens the server refuses.
 */
enum err auth_open(const struct config *cfg, bool create, struct auth **out);
void auth_close(struct auth *a); /* accepts NULL; wipes the secret */

/*
 * Verifies a token (the text after "Bearer ") at time now (seconds). On success
 * writes the canonical user id and, if issued_at is not NULL, the iat claim in
 * seconds (-1 when the token has none). Any failure is ERR_UNAUTHORIZED; then, if
 * expired is not NULL, *expired tells whether the token was good but for its exp
 * (signature, algorithm, nbf, iat and sub all right), for RFC 6750's
 * error_description. user_id is written only on success.
 */
enum err auth_verify(const struct auth *a, const char *token, int64_t now,
                     char user_id[ID_UUID_LEN], int64_t *issued_at, bool *expired);

/* auth_verify, also writing the exp claim (seconds) to *expires if not NULL: the
 * answer stays the same until then (auth_cache.h relies on it). */
enum err auth_verify_until(const struct auth *a, const char *token, int64_t now,
                           char user_id[ID_UUID_LEN], int64_t *issued_at, bool *expired,
                           int64_t *expires);

/* Mints a token for user_id valid ttl seconds from now. *out is malloc'd. */
enum err auth_mint(const struct auth *a, const char *user_id, int64_t now, long ttl, char **out);

/* For tests: an auth over an explicit secret. */
enum err auth_open_secret(const char *secret, size_t len, struct auth **out);
