/*
 * accounts.h - accounts and the tokens they are given (SPEC §12): register, sign
 * in, refresh, sign out, change the password, delete the account.
 *
 * Access tokens are auth.h's JWTs (so tokens from an outside issuer sharing
 * JWT_SECRET keep working). Refresh tokens are opaque, 256 random bits, stored
 * only as their SHA-256 and looked up by it (no timing oracle); each works once,
 * and its successor continues the same family. A spent token presented again
 * revokes its family (theft detection, logged with the user id). Failed sign-ins
 * are counted per e-mail (by hash) in the database, so every server shares the
 * window; the e-mail is locked, right password included, until the window has
 * passed. An unknown e-mail costs one password hash, like a known one.
 *
 * The operations are synchronous. Those that hash a password (register, login,
 * password, delete) take tens of milliseconds of CPU and PASSWORD_MEMORY_KIB of
 * memory: run them on a worker pool, after accounts_admit() gave a slot, never on
 * an HTTP thread. Nothing here logs a password, a token, a hash or an e-mail.
 *
 * Ownership: struct accounts is opened and closed by app.c. Answers live in the
 * caller's arena. Inputs are borrowed. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/id.h"

struct app;
struct config;
struct accounts;

#define ACCOUNTS_MAX_FAILURES 10             /* failed sign-ins per e-mail in the window */
#define ACCOUNTS_FAILURE_WINDOW_MS (15 * 60 * 1000)
#define ACCOUNTS_EMAIL_MAX 254
#define ACCOUNTS_PASSWORD_MIN 8   /* characters (code points) */
#define ACCOUNTS_PASSWORD_MAX 256

enum err accounts_open(const struct config *cfg, struct accounts **out);
void accounts_close(struct accounts *acc); /* accepts NULL */

/* A slot for one password operation: false when PASSWORD_QUEUE are waiting or
 * running (answer 503 with Retry-After). Every true is paired with a release. */
bool accounts_admit(struct accounts *acc);
void accounts_release(struct accounts *acc);

/*
 * The e-mail as stored: trimmed of spaces, ASCII letters lowercased. False (with a
 * static *why for the 422) unless it is valid UTF-8 without control characters or
 * spaces inside, has one '@', a non-empty local part, a domain with a dot that
 * neither starts nor ends it, and at most ACCOUNTS_EMAIL_MAX characters.
 */
bool accounts_email_normalise(const char *raw, size_t len, struct arena *a, char **out,
                              const char **why);

/* The token answer of register, login and refresh. */
struct token_answer {
    char *access_token; /* in the arena */
    long expires_in;    /* seconds */
    char refresh_token[ID_TOKEN_LEN];
    char user_id[ID_UUID_LEN];
    const char *email; /* in the arena; NULL for an account without one */
};

/* A new account (email normalised, password checked by the caller); its id into
 * id. ERR_CONFLICT: the e-mail is registered. */
enum err accounts_create(struct app *app, const char *email, const char *password,
                         size_t password_len, int64_t now_ms, char id[ID_UUID_LEN]);

/* accounts_create(), and the new account's first tokens. */
enum err accounts_register(struct app *app, const char *email, const char *password,
                           size_t password_len, int64_t now_ms, struct arena *a,
                           struct token_answer *out);

/* ERR_UNAUTHORIZED: unknown e-mail or wrong password (the same either way).
 * ERR_RATE_LIMITED: the e-mail is locked for *retry_after seconds. */
enum err accounts_login(struct app *app, const char *email, const char *password,
                        size_t password_len, int64_t now_ms, struct arena *a,
                        struct token_answer *out, int64_t *retry_after);

/* ERR_UNAUTHORIZED: unknown, expired, spent (the family is then revoked) or not a
 * token this server makes. */
enum err accounts_refresh(struct app *app, const char *refresh_token, int64_t now_ms,
                          struct arena *a, struct token_answer *out);

/* Revokes the token's family. An unknown token is not an error (ERR_OK). */
enum err accounts_logout(struct app *app, const char *refresh_token);

/* ERR_FORBIDDEN: current is wrong (or the account has no password). Revokes every
 * refresh token of the user. */
enum err accounts_change_password(struct app *app, const char *user_id, const char *current,
                                  size_t current_len, const char *next, size_t next_len);

/* Deletes the account (password: required if it has one, else ignored; NULL:
 * unchecked, for `novadraw user delete`). ERR_FORBIDDEN: wrong password;
 * ERR_VALIDATION: a password is needed and none was given. *n_objects: how many
 * stored objects were queued for deletion (may be NULL). */
enum err accounts_delete(struct app *app, const char *user_id, const char *password,
                         size_t password_len, bool check_password, int64_t now_ms,
                         int64_t *n_objects);
