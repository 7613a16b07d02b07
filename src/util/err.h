/*
 * err.h - the project's one error vocabulary.
 *
 * Every fallible function returns an enum err. Modules log where they have the
 * context and pass the code up; exactly one place (http/request.c, response_error) turns a code
 * into an HTTP status and a body.
 */
#pragma once

enum err {
    ERR_OK = 0,
    ERR_INVALID,       /* malformed input from the caller: 400/422 */
    ERR_VALIDATION,    /* a request field failed validation: 422 */
    ERR_UNAUTHORIZED,  /* missing or bad credentials: 401 */
    ERR_NOT_FOUND,     /* absent, or not the caller's: 404 */
    ERR_TOO_LARGE,     /* bytes, pixels or seconds over a limit: 413 */
    ERR_UNSUPPORTED,   /* not a supported image/audio format: 400 */
    ERR_REFUSED,       /* understood but refused (prompt, model): 422 */
    ERR_BUSY,          /* queue full: 503 with Retry-After */
    ERR_UPSTREAM,      /* a remote service failed: 502 */
    ERR_TIMEOUT,       /* a remote service timed out: 504 */
    ERR_UNAVAILABLE,   /* database or storage unavailable: 503 */
    ERR_CONFLICT,      /* already exists: 409 */
    ERR_FORBIDDEN,     /* authenticated, but not allowed: 403 */
    ERR_RATE_LIMITED,  /* too many attempts: 429 with Retry-After */
    ERR_NOMEM,         /* allocation failed: 500 */
    ERR_INTERNAL,      /* a bug or an unexpected library failure: 500 */
};

/* A short, static, lowercase name for logs ("not_found"). Never NULL. */
const char *err_name(enum err e);
