/*
 * shares.h - share links (SPEC §11): a token that lets anyone see one drawing
 * without signing in, until its owner revokes it or it expires.
 *
 * The token is 32 bytes from getrandom(2) (256 bits), base64url without padding:
 * 43 characters of [A-Za-z0-9_-]. The database finds a link by the token's SHA-256
 * only (db.h: db_share_*), so a lookup's time depends on the hash of what was sent,
 * not on how much of a real token it matched; a string that cannot be a token is
 * not found without a query. Ownership is the drawing's, checked in the SQL.
 *
 * Thread-safe; records live in the caller's arena. The db calls block (like every
 * handler's).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "db/db.h"

#define SHARES_TOKEN_BYTES 32
#define SHARES_TOKEN_LEN 43         /* base64url of 32 bytes, unpadded */
#define SHARES_EXPIRES_MIN 60       /* seconds */
#define SHARES_EXPIRES_MAX 31536000 /* seconds: 365 days */

/* A fresh token into out (NUL-terminated). False if the kernel gave no randomness. */
bool shares_token_new(char out[SHARES_TOKEN_LEN + 1]);

/* True if s has a token's form: exactly 43 characters of [A-Za-z0-9_-]. */
bool shares_token_valid(const char *s);

/* SHA-256 of the token's characters: the key a link is stored and found under. */
void shares_token_hash(const char *token, unsigned char out[DB_SHARE_HASH_LEN]);

/* PUBLIC_BASE_URL/s/{token}, in the arena; NULL for no memory. */
char *shares_url(const struct app *app, const char *token, struct arena *a);

/*
 * Creates a link to user_id's drawing, expiring expires_in seconds from now (0:
 * never; else SHARES_EXPIRES_MIN..MAX, ERR_INVALID outside). *out gets the token (in
 * the arena) and times. ERR_NOT_FOUND if the drawing is not theirs.
 */
enum err shares_create(struct app *app, const char *user_id, const char *drawing_id,
                       int64_t expires_in, struct arena *a, struct share *out);

/* Revokes the link if its drawing is user_id's; a malformed token, someone else's
 * link or none at all is ERR_NOT_FOUND. */
enum err shares_revoke(struct app *app, const char *user_id, const char *token);

/* The drawing a link shows, counting one view; ERR_NOT_FOUND if the token is
 * malformed, unknown, revoked, expired, or its drawing deleted. */
enum err shares_open(struct app *app, const char *token, struct arena *a, struct drawing *out);
