/*
 * idempotency.h - Idempotency-Key (SPEC §14): the rules, in one place. The server
 * (http/server.c) calls these on the routes whose table entry asks for it; handlers
 * never see a key.
 *
 *  - The key: 1-255 printable ASCII characters (0x20-0x7E); else 422
 *    at ["header", "idempotency-key"], before the body is read.
 *  - The request's fingerprint: SHA-256 over the method, the route, its path parameters
 *    and the body as it streams in. A multipart body counts by its fields (name, file
 *    name, bytes), not its boundaries, which clients draw at random for every send,
 *    retries included; a JSON body counts as its bytes.
 *  - With the whole body in, the key is claimed in the database (a row inserted
 *    running, under a lease, before any work). Then: a new key runs; the same user and
 *    key within 24 hours with another fingerprint is 422; while the first is running,
 *    409; once it is done, its answer again (status, body, its headers) with
 *    Idempotent-Replayed: true, and nothing is done twice.
 *  - The final answer is stored with the row in one statement when it is sent: 2xx and
 *    4xx; a 5xx gives the key up, so a retry runs again.
 *  - Crash safety: a row left running by a server that died (or a connection that went
 *    away before its work could be stored) is taken over by a retry with the same
 *    fingerprint once its lease ends, and run again; a replay never returns a half-done
 *    answer, since only a final answer is ever stored. The lease outlasts the longest an
 *    edit may take (IDEMPOTENCY_LEASE_MIN_MS, or three times the Gemini deadline with
 *    its retries), so a live request is never taken over in practice; if one were, its
 *    own answer could no longer be stored (the row has a new owner).
 *  - Rows expire 24 hours after their claim; the job worker deletes them.
 *
 * Ownership: struct idempotency belongs to one request (its exchange); the strings it
 * points at live in the request's arena. One thread at a time, as the request.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "http/request.h"

#define IDEMPOTENCY_KEY_MAX 255
#define IDEMPOTENCY_TTL_MS (24LL * 3600 * 1000)
#define IDEMPOTENCY_LEASE_MIN_MS (10LL * 60 * 1000)

struct digest;

struct idempotency {
    const char *key;            /* the header's value (arena); NULL: the request has none */
    struct digest *body, *part; /* the fingerprint so far, and the current part's bytes */
    uint64_t part_len;
    bool hash_failed; /* out of memory while hashing: the claim fails (500) */
    char owner[33];   /* this request's claim: a random token */
    bool held;        /* claimed, and the answer not yet stored or given up */
};

/*
 * Reads the header's value (NULL: none came; nothing else happens for this request).
 * A bad key adds a 422 entry to req and returns ERR_VALIDATION.
 */
enum err idempotency_start(struct request *req, struct idempotency *k, const char *value);

/* A body's pieces as they arrive: a new multipart part (a JSON body is one part with
 * an empty name), then its bytes. No-ops when the request has no key. */
void idempotency_part(struct idempotency *k, const char *name, const char *filename);
void idempotency_data(struct idempotency *k, const void *data, size_t len);

/* Whether the user already has this key (within 24 hours): the request then does no new
 * work (a replay, 409 or 422), so the rate limit does not count it. */
bool idempotency_seen(struct request *req, const struct idempotency *k);

/*
 * With the whole body in: claims the key for the request on route pattern. ERR_OK and
 * *replayed false: run it (the claim is held until idempotency_settle); ERR_OK and
 * *replayed true: res holds the first answer, to be sent as it is; otherwise an error
 * with its detail on req (409 running, 422 another request, 503 database).
 */
enum err idempotency_claim(struct request *req, struct idempotency *k, const char *pattern,
                           struct response *res, bool *replayed);

/* The answer res is final (about to be sent, or ready when the client went away): a
 * held claim stores it (2xx, 4xx) or is given up (5xx, or none: status 0). Idempotent. */
void idempotency_settle(struct request *req, struct idempotency *k, const struct response *res);

/* Frees what hashing holds. Accepts a struct never started. */
void idempotency_end(struct idempotency *k);

/* The job worker's sweep: deletes keys older than 24 hours. */
void idempotency_prune(struct app *app, int64_t now_ms);
