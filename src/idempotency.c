/*
 * idempotency.c - the rules of Idempotency-Key (idempotency.h) over db_idem_*: the
 * key's syntax, the request's fingerprint, the claim and its verdict, the stored
 * answer and its replay.
 *
 * Stateless; each struct idempotency is one request's. Thread-safe.
 */
#include "idempotency.h"

#include <stdlib.h>
#include <string.h>

#include "http/router.h"
#include "util/digest.h"
#include "util/hex.h"
#include "util/id.h"
#include "util/log.h"
#include "util/timefmt.h"

#define HEADERS_TEXT_MAX 4096 /* a stored answer's header lines */

enum err idempotency_start(struct request *req, struct idempotency *k, const char *value)
{
    size_t n;

    memset(k, 0, sizeof(*k));
    if (!value)
        return ERR_OK;
    n = strlen(value);
    if (n == 0)
        return request_invalid(req, "header", "idempotency-key",
                               "String should have at least 1 character", "string_too_short");
    if (n > IDEMPOTENCY_KEY_MAX)
        return request_invalid(req, "header", "idempotency-key",
                               "String should have at most 255 characters", "string_too_long");
    for (size_t i = 0; i < n; i++) {
        if (value[i] < 0x20 || value[i] > 0x7e) /* char may be signed: both bounds hold */
            return request_invalid(req, "header", "idempotency-key",
                                   "String should hold printable ASCII characters only",
                                   "string_pattern_mismatch");
    }
    k->key = arena_strdup(req->arena, value);
    if (!k->key)
        return ERR_NOMEM;
    k->body = digest_new();
    k->hash_failed = k->body == NULL;
    return ERR_OK;
}

/* A string into a digest, framed by its length, so no two sequences hash alike. */
static void put_str(struct digest *d, const char *s)
{
    uint64_t n = s ? strlen(s) : UINT64_MAX;

    digest_update(d, &n, sizeof(n));
    if (s)
        digest_update(d, s, strlen(s));
}

/* The current part's bytes, as (length, SHA-256), into the fingerprint. */
static void part_end(struct idempotency *k)
{
    unsigned char h[DIGEST_SHA256_LEN];

    if (!k->part)
        return;
    digest_final(k->part, h);
    k->part = NULL;
    digest_update(k->body, &k->part_len, sizeof(k->part_len));
    digest_update(k->body, h, sizeof(h));
}

void idempotency_part(struct idempotency *k, const char *name, const char *filename)
{
    if (!k->key || k->hash_failed)
        return;
    part_end(k);
    put_str(k->body, name);
    put_str(k->body, filename);
    k->part_len = 0;
    k->part = digest_new();
    k->hash_failed = k->part == NULL;
}

void idempotency_data(struct idempotency *k, const void *data, size_t len)
{
    if (!k->key || k->hash_failed || !k->part)
        return;
    digest_update(k->part, data, len);
    k->part_len += len;
}

bool idempotency_seen(struct request *req, const struct idempotency *k)
{
    bool seen = false;

    if (!k->key)
        return false;
    /* a failure reads as unseen: the rate limit then counts the request, no worse */
    if (db_idem_exists(req->app->db, req->user_id, k->key, time_now_ms() - IDEMPOTENCY_TTL_MS,
                       &seen) != ERR_OK)
        return false;
    return seen;
}

/* The fingerprint of the whole request, as 64 hex digits; frees the digests. */
static void fingerprint(struct request *req, struct idempotency *k, const char *pattern,
                        char out[2 * DIGEST_SHA256_LEN + 1])
{
    unsigned char h[DIGEST_SHA256_LEN];

    part_end(k);
    put_str(k->body, http_method_name(req->method));
    put_str(k->body, pattern);
    for (size_t i = 0; i < REQUEST_MAX_PARAMS; i++)
        put_str(k->body, req->params[i]);
    digest_final(k->body, h);
    k->body = NULL;
    hex_encode(h, sizeof(h), out);
}

static int64_t lease_ms(const struct config *cfg)
{
    /* every Gemini attempt may take GEMINI_TIMEOUT; an edit makes at most two calls
     * (a transcription, then the edit), and storage retries for up to 30 s */
    int64_t gemini = (int64_t)cfg->gemini_timeout * (cfg->gemini_retries + 1) * 1000;
    int64_t ms = 3 * gemini;

    return ms > IDEMPOTENCY_LEASE_MIN_MS ? ms : IDEMPOTENCY_LEASE_MIN_MS;
}

/* "Name: value\n" lines back into res's headers (arena strings), skipping what does
 * not parse; then the replay's own header. */
static void replay_headers(struct request *req, struct response *res, const char *text)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n'), *colon = strstr(p, ": ");
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (colon && colon < p + len && res->n_headers + 1 < RESPONSE_MAX_HEADERS) {
            const char *name = arena_strndup(req->arena, p, (size_t)(colon - p));
            const char *value = arena_strndup(req->arena, colon + 2, len - (size_t)(colon - p) - 2);
            if (name && value)
                response_header(res, name, value);
        }
        p += len + (nl ? 1 : 0);
    }
    response_header(res, "Idempotent-Replayed", "true");
}

static enum err replay(struct request *req, const struct db_idem *row, struct response *res)
{
    size_t n = row->body ? strlen(row->body) : 0;

    res->status = row->status;
    res->content_type = row->content_type;
    res->n_headers = 0;
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    if (n > 0) {
        res->body = malloc(n);
        if (!res->body)
            return ERR_NOMEM;
        memcpy(res->body, row->body, n);
        res->body_len = n;
    }
    replay_headers(req, res, row->headers);
    return ERR_OK;
}

enum err idempotency_claim(struct request *req, struct idempotency *k, const char *pattern,
                           struct response *res, bool *replayed)
{
    char fp[2 * DIGEST_SHA256_LEN + 1];
    struct db_idem row;
    int64_t now = time_now_ms();
    enum err rc;

    *replayed = false;
    if (!k->key)
        return ERR_OK;
    if (k->hash_failed)
        return ERR_NOMEM;
    fingerprint(req, k, pattern, fp);
    if (!id_random_hex(k->owner, (sizeof(k->owner) - 1) / 2))
        return ERR_INTERNAL;
    rc = db_idem_claim(req->app->db, req->user_id, k->key, fp, k->owner, now,
                       now + lease_ms(req->app->cfg), now - IDEMPOTENCY_TTL_MS, req->arena, &row);
    if (rc == ERR_OK) {
        k->held = true;
        return ERR_OK;
    }
    if (rc != ERR_CONFLICT)
        return request_fail(req, ERR_UNAVAILABLE, "Database unavailable");
    if (strcmp(row.fingerprint, fp) != 0)
        return request_fail(req, ERR_REFUSED,
                            "This Idempotency-Key was used for a different request");
    if (!row.done)
        return request_fail(req, ERR_CONFLICT,
                            "A request with this Idempotency-Key is still in progress");
    rc = replay(req, &row, res);
    if (rc == ERR_OK)
        *replayed = true;
    return rc;
}

/* res's headers as "Name: value\n" lines (arena), "" for none; NULL when they do not
 * fit or hold a line break. */
static char *headers_text(struct request *req, const struct response *res)
{
    size_t len = 0, k = 0;
    char *out;

    for (size_t i = 0; i < res->n_headers; i++)
        len += strlen(res->headers[i].name) + 2 + strlen(res->headers[i].value) + 1;
    if (len > HEADERS_TEXT_MAX)
        return NULL;
    out = arena_alloc(req->arena, len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < res->n_headers; i++) {
        const struct header *h = &res->headers[i];
        if (strpbrk(h->name, "\r\n") || strpbrk(h->value, "\r\n"))
            return NULL;
        k += (size_t)snprintf(out + k, len + 1 - k, "%s: %s\n", h->name, h->value);
    }
    out[k] = '\0';
    return out;
}

void idempotency_settle(struct request *req, struct idempotency *k, const struct response *res)
{
    struct db *db = req->app->db;
    const char *body = NULL, *headers = NULL;
    enum err rc = ERR_INVALID;

    if (!k->held)
        return;
    k->held = false;
    /* only a final answer of the work, as one text: 2xx or 4xx, a body without NUL
     * (ours are JSON), neither a file nor a stream */
    if (res->status >= 200 && res->status < 500 && res->fd < 0 && !res->stream &&
        (!res->body || !memchr(res->body, '\0', res->body_len))) {
        body = res->body ? arena_strndup(req->arena, res->body, res->body_len) : "";
        headers = headers_text(req, res);
    }
    if (body && headers)
        rc = db_idem_complete(db, req->user_id, k->key, k->owner, res->status, res->content_type,
                              headers, body);
    if (rc == ERR_OK)
        return;
    if (rc == ERR_NOT_FOUND) {
        log_warn("idempotency: a claim was taken over before its answer; not stored");
        return;
    }
    if (body && headers)
        log_warn("idempotency: cannot store an answer (%s); the key is given up", err_name(rc));
    if (db_idem_release(db, req->user_id, k->key, k->owner) != ERR_OK)
        log_warn("idempotency: cannot give a key up; it is taken over when its lease ends");
}

void idempotency_end(struct idempotency *k)
{
    digest_free(k->part);
    digest_free(k->body);
    k->part = NULL;
    k->body = NULL;
}

void idempotency_prune(struct app *app, int64_t now_ms)
{
    int64_t n = 0;

    if (db_idem_prune(app->db, now_ms - IDEMPOTENCY_TTL_MS, &n) != ERR_OK)
        log_warn("idempotency: cannot delete expired keys");
    else if (n > 0)
        log_info("idempotency: deleted %lld expired keys", (long long)n);
}
