/*
 * s3.c - the S3-compatible storage backend (DigitalOcean Spaces, AWS S3, any
 * S3 server): path-style requests {endpoint}/{bucket}/{key}, signed with
 * storage/sigv4.c and sent on the app's asynchronous HTTP client (util/httpc.h);
 * PUT, GET, DELETE, HEAD bucket, ListObjectsV2. Public-read objects are served
 * from SPACES_PUBLIC_URL; private ones by presigned GET URLs.
 *
 * A call is a struct s3_op: the request every attempt sends, its retry state and
 * the caller's callback. The op is the submitting thread's until httpc accepts it,
 * then the httpc thread's (on_answer): each answer is either retried (re-signed,
 * resubmitted after httpc_backoff_ms, no thread waiting) or ends the op, whose
 * callback then runs on the httpc thread. check and list (the CLI, gc) wait for
 * their requests on a condition variable.
 *
 * Owns its copies of the settings; borrows the httpc client. Thread-safe: the
 * settings are read-only after open and an op belongs to one thread at a time.
 * The secret and the Authorization header are never logged.
 */
#include "storage.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/sigv4.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/timefmt.h"

#define S3_ATTEMPTS 3                 /* per call, on 5xx, 429 and transport errors */
#define S3_CONNECT_TIMEOUT_MS 5000L   /* per connection */
#define S3_DEADLINE_MS 30000L         /* per call, every attempt and wait included */
#define S3_MAX_OBJECT (512u << 20)    /* GET refuses bigger objects */
#define S3_MAX_LISTING (16u << 20)    /* one ListObjectsV2 page (1000 keys is ~300 KiB) */
#define S3_MAX_ERROR_BODY (64u << 10) /* an error's XML, for its <Code> */
#define S3_CACHE_CONTROL "public, max-age=31536000, immutable"
#define S3_USER_AGENT "novadraw/0.1"
#define S3_MAX_LINES 8 /* request headers an attempt sends (HTTPC_MAX_HEADERS or fewer) */

struct storage_s3 {
    struct storage base;
    struct httpc *http; /* borrowed: the app's client */
    char *origin;       /* scheme://authority, from STORAGE_ENDPOINT_URL */
    char *host;         /* authority as the Host header: host[:port] */
    char *prefix;       /* the endpoint's own path ("" usually), then /bucket */
    char *bucket;
    char *region;
    char *access_key;
    char *secret_key;
    char *public_base; /* public-read URL base, no trailing slash */
    bool private_acl;
    long url_ttl;
};

struct s3_op;

/*
 * How an op ends: rc ERR_OK with an HTTP answer (any status) in res, or why no answer
 * worth having came (ERR_UNAVAILABLE, ERR_TOO_LARGE, ERR_NOMEM). Takes res (may be
 * NULL) and the op: it frees both.
 */
typedef void (*s3_end_fn)(struct s3_op *op, enum err rc, struct httpc_response *res);

/* A synchronous call's rendezvous (check, list): on the waiting thread's stack. */
struct s3_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done; /* under mu */
    enum err rc;
    struct httpc_response *res; /* the waiter's once done */
};

/* One call, across its attempts. */
struct s3_op {
    struct storage_s3 *s3;
    const char *method;       /* static: GET, PUT, DELETE, HEAD */
    char *key;                /* NULL: the bucket itself */
    char *path;               /* raw, as signed: {prefix}/{bucket}[/{key}] */
    char *url;                /* origin + encoded path + ?encoded query, as sent */
    struct sigv4_kv query[3]; /* names static, values owned */
    size_t n_query;
    const void *body; /* PUT; borrowed until the op ends */
    size_t body_len;
    char *content_type; /* PUT */
    char payload_hash[SIGV4_HEX_LEN];
    size_t max_response; /* body bytes kept */
    int attempts;        /* sent so far */
    int64_t deadline_ms; /* monotonic */
    s3_end_fn end;
    storage_done_fn done; /* the caller's (put, del) */
    storage_got_fn got;   /* the caller's (get) */
    void *arg;
    struct s3_wait *wait; /* a synchronous call's */
};

/* ------------------------------------------------------------------ settings */

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

/* The host of an http(s) URL (no port, no brackets' content check), from the arena. */
static char *url_host(const char *url, struct arena *a)
{
    const char *p = strstr(url, "://"), *end;

    if (!p)
        return NULL;
    p += 3;
    end = p + strcspn(p, "/?#");
    if (*p == '[') { /* IPv6 literal */
        const char *close = memchr(p, ']', (size_t)(end - p));
        return close ? arena_strndup(a, p + 1, (size_t)(close - p - 1)) : NULL;
    }
    for (const char *c = p; c < end; c++) {
        if (*c == ':') {
            end = c;
            break;
        }
    }
    return arena_strndup(a, p, (size_t)(end - p));
}

char *storage_s3_region(const struct config *cfg, struct arena *a)
{
    static const char do_suffix[] = ".digitaloceanspaces.com";
    char *host;

    if (cfg->spaces_region && *cfg->spaces_region)
        return arena_strdup(a, cfg->spaces_region);
    host = cfg->storage_endpoint_url ? url_host(cfg->storage_endpoint_url, a) : NULL;
    if (host) {
        for (char *c = host; *c; c++) {
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        }
    }
    if (host && has_suffix(host, do_suffix) && strlen(host) > sizeof(do_suffix) - 1) {
        /* the label just before the suffix: nyc3 in [bucket.]nyc3.digitaloceanspaces.com */
        size_t n = strlen(host) - (sizeof(do_suffix) - 1);
        const char *start = host + n;
        while (start > host && start[-1] != '.')
            start--;
        return arena_strndup(a, start, (size_t)(host + n - start));
    }
    if (host && strncmp(host, "s3.", 3) == 0 && has_suffix(host, ".amazonaws.com")) {
        /* s3.REGION.amazonaws.com */
        const char *r = host + 3, *dot = strchr(r, '.');
        if (dot && strcmp(dot, ".amazonaws.com") == 0 && dot > r)
            return arena_strndup(a, r, (size_t)(dot - r));
    }
    return arena_strdup(a, "us-east-1");
}

char *storage_s3_public_base(const struct config *cfg, struct arena *a)
{
    if (cfg->spaces_public_url && *cfg->spaces_public_url)
        return arena_strdup(a, cfg->spaces_public_url);
    return arena_printf(a, "%s/%s", cfg->storage_endpoint_url ? cfg->storage_endpoint_url : "",
                        cfg->spaces_bucket ? cfg->spaces_bucket : "");
}

/* ------------------------------------------------------------------ one call */

static int64_t now_ms_monotonic(void)
{
    return time_mono_ns() / 1000000;
}

/* The raw (unencoded) path of a call: {prefix}/{bucket}[/{key}]. */
static char *call_path(const struct storage_s3 *s3, const char *key)
{
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", s3->prefix, key ? "/" : "", key ? key : "") < 0)
        return NULL;
    return p;
}

/* origin + encoded path + ?encoded query, for the request line. */
static char *call_url(const struct storage_s3 *s3, const char *path, const struct sigv4_kv *q,
                      size_t nq)
{
    char *enc = sigv4_uri_encode(path, true), *url = NULL;
    size_t cap, len;

    if (!enc)
        return NULL;
    cap = strlen(s3->origin) + strlen(enc) + 2;
    for (size_t i = 0; i < nq; i++)
        cap += 3 * (strlen(q[i].name) + strlen(q[i].value ? q[i].value : "")) + 2;
    url = malloc(cap);
    if (!url)
        goto out;
    len = (size_t)snprintf(url, cap, "%s%s", s3->origin, enc);
    for (size_t i = 0; i < nq && url; i++) {
        char *n = sigv4_uri_encode(q[i].name, false);
        char *v = sigv4_uri_encode(q[i].value ? q[i].value : "", false);
        int k = (n && v) ? snprintf(url + len, cap - len, "%c%s=%s", i ? '&' : '?', n, v) : -1;
        free(n);
        free(v);
        if (k < 0 || (size_t)k >= cap - len) {
            free(url);
            url = NULL;
        } else {
            len += (size_t)k;
        }
    }
out:
    free(enc);
    return url;
}

/* The S3 error code (<Code>…</Code>) of an error body, for logs; "" if none. */
static void error_code(const char *body, char out[64])
{
    const char *p = body ? strstr(body, "<Code>") : NULL, *end;
    size_t n = 0;

    out[0] = '\0';
    if (!p)
        return;
    p += 6;
    end = strstr(p, "</Code>");
    if (!end)
        return;
    n = (size_t)(end - p);
    if (n > 63)
        n = 63;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* What the bucket or object of a call is called in logs. */
static const char *op_name(const struct s3_op *op)
{
    return op->key ? op->key : op->s3->bucket;
}

/* Logs a final non-success answer with the S3 error code (never the request's headers). */
static void log_status(const struct s3_op *op, const struct httpc_response *res)
{
    char code[64];
    error_code(res->body, code);
    log_error("storage: %s %s: HTTP %ld%s%s", op->method, op_name(op), res->status,
              code[0] ? " " : "", code);
}

/*
 * Worth another attempt: what httpc_retryable() retries (a lost or refused connection;
 * 429, 500, 503, 504), and, as S3 clients do, every other 5xx and a timeout (a connect
 * timeout; a transfer's own timeout is the deadline, so the deadline check stops that).
 * Not an answer over our cap, nor the client closing.
 */
static bool s3_retryable(const struct httpc_response *res)
{
    if (res->transport == ERR_OK)
        return httpc_retryable(res) || (res->status >= 500 && res->status <= 599);
    if (res->transport == ERR_UPSTREAM)
        return !res->too_big && httpc_retryable(res);
    return res->transport == ERR_TIMEOUT;
}

static void op_free(struct s3_op *op)
{
    if (!op)
        return;
    free(op->key);
    free(op->path);
    free(op->url);
    for (size_t i = 0; i < op->n_query; i++)
        free((char *)op->query[i].value);
    free(op->content_type);
    free(op);
}

/* A new op for method on key (NULL: the bucket), with its path, URL and payload hash;
 * NULL on no memory. Query values and the content type are copied; body is borrowed. */
static struct s3_op *op_new(struct storage_s3 *s3, const char *method, const char *key,
                            const struct sigv4_kv *query, size_t n_query, const void *body,
                            size_t body_len, const char *content_type, size_t max_response,
                            s3_end_fn end)
{
    struct s3_op *op = calloc(1, sizeof(*op));
    bool ok;

    if (!op || n_query > sizeof(op->query) / sizeof(op->query[0])) {
        free(op);
        return NULL;
    }
    op->s3 = s3;
    op->method = method;
    op->body = body;
    op->body_len = body_len;
    op->max_response = max_response ? max_response : S3_MAX_ERROR_BODY;
    op->end = end;
    op->deadline_ms = now_ms_monotonic() + S3_DEADLINE_MS;
    ok = !key || (op->key = strdup(key)) != NULL;
    ok = ok && (!content_type || (op->content_type = strdup(content_type)) != NULL);
    for (size_t i = 0; ok && i < n_query; i++) {
        op->query[i].name = query[i].name;
        op->query[i].value = strdup(query[i].value ? query[i].value : "");
        op->n_query = i + 1;
        ok = op->query[i].value != NULL;
    }
    ok = ok && (op->path = call_path(s3, key)) != NULL;
    ok = ok && (op->url = call_url(s3, op->path, op->query, op->n_query)) != NULL;
    if (!ok) {
        op_free(op);
        return NULL;
    }
    /* hashed once, on the caller's thread: every attempt sends the same bytes */
    sigv4_sha256_hex(body, body_len, op->payload_hash);
    return op;
}

static void on_answer(void *arg, struct httpc_response *res);

/* Appends "name: value" (malloc'd) to lines; false on no memory or no room. */
static bool add_line(char *lines[S3_MAX_LINES], size_t *n, const char *name, const char *value)
{
    char *line = NULL;

    if (*n >= S3_MAX_LINES || asprintf(&line, "%s: %s", name, value) < 0)
        return false;
    lines[(*n)++] = line;
    return true;
}

/*
 * Signs one attempt (afresh: its own x-amz-date) and hands it to httpc, to start after
 * delay_ms. ERR_OK: on_answer will run. ERR_TIMEOUT: no time left before the deadline;
 * ERR_NOMEM; ERR_UNAVAILABLE: the client is closing. Nothing is sent on an error.
 */
static enum err op_send(struct s3_op *op, long delay_ms)
{
    const struct storage_s3 *s3 = op->s3;
    struct sigv4_key key = {s3->access_key, s3->secret_key, s3->region, "s3"};
    struct sigv4_kv signed_h[3];
    size_t n_signed = 0, n_lines = 0;
    struct sigv4_request r = {
        .method = op->method,
        .host = s3->host,
        .path = op->path,
        .query = op->query,
        .n_query = op->n_query,
        .headers = signed_h,
        .payload_hash = op->payload_hash,
    };
    struct sigv4_auth auth = {0};
    struct httpc_request req = {
        .method = op->method,
        .url = op->url,
        .body = op->body,
        .body_len = op->body_len,
        .connect_timeout_ms = S3_CONNECT_TIMEOUT_MS,
        .max_response = op->max_response,
    };
    char *lines[S3_MAX_LINES] = {0};
    int64_t left = op->deadline_ms - now_ms_monotonic() - delay_ms;
    enum err rc = ERR_TIMEOUT;

    _Static_assert(S3_MAX_LINES <= HTTPC_MAX_HEADERS, "httpc takes fewer headers");
    if (left <= 0)
        goto out;
    if (strcmp(op->method, "PUT") == 0) {
        signed_h[n_signed++] = (struct sigv4_kv){"content-type", op->content_type};
        signed_h[n_signed++] = (struct sigv4_kv){"cache-control", S3_CACHE_CONTROL};
        if (!s3->private_acl)
            signed_h[n_signed++] = (struct sigv4_kv){"x-amz-acl", "public-read"};
    }
    r.n_headers = n_signed;
    /* dated when it will be sent (S3 allows 15 minutes of skew either way) */
    rc = sigv4_sign(&key, &r, time(NULL) + delay_ms / 1000, &auth);
    if (rc != ERR_OK)
        goto out;
    rc = ERR_NOMEM;
    if (!add_line(lines, &n_lines, "Host", s3->host) ||
        !add_line(lines, &n_lines, "x-amz-date", auth.amz_date) ||
        !add_line(lines, &n_lines, "x-amz-content-sha256", op->payload_hash) ||
        !add_line(lines, &n_lines, "User-Agent", S3_USER_AGENT))
        goto out;
    for (size_t i = 0; i < n_signed; i++) {
        if (!add_line(lines, &n_lines, signed_h[i].name, signed_h[i].value))
            goto out;
    }
    if (!add_line(lines, &n_lines, "Authorization", auth.authorization))
        goto out;
    for (size_t i = 0; i < n_lines; i++)
        req.headers[i] = lines[i];
    req.timeout_ms = (long)left;
    /* counted before the hand-over: once submitted, op belongs to the httpc thread,
     * which may finish and free it before httpc_submit() returns */
    op->attempts++;
    rc = httpc_submit(s3->http, &req, delay_ms, on_answer, op); /* copies the headers */
    if (rc != ERR_OK)
        op->attempts--;
out:
    for (size_t i = 0; i < n_lines; i++)
        free(lines[i]);
    sigv4_auth_free(&auth);
    return rc;
}

/* The httpc thread: retry, or end the op. */
static void on_answer(void *arg, struct httpc_response *res)
{
    struct s3_op *op = arg;

    if (s3_retryable(res) && op->attempts < S3_ATTEMPTS) {
        long wait = httpc_backoff_ms(op->attempts, res->retry_after);
        if (now_ms_monotonic() + wait < op->deadline_ms) {
            if (res->transport == ERR_OK)
                log_warn("storage: %s %s: HTTP %ld, retrying in %ld ms", op->method, op_name(op),
                         res->status, wait);
            else
                log_warn("storage: %s %s: %s, retrying in %ld ms", op->method, op_name(op),
                         err_name(res->transport), wait);
            if (op_send(op, wait) == ERR_OK) {
                httpc_response_free(res);
                return;
            }
        }
    }
    if (res->transport != ERR_OK) {
        log_warn("storage: %s %s: no answer (%s%s)", op->method, op_name(op),
                 err_name(res->transport), res->too_big ? ", too large" : "");
        op->end(op, res->too_big ? ERR_TOO_LARGE : ERR_UNAVAILABLE, res);
        return;
    }
    op->end(op, ERR_OK, res);
}

/* Sends the first attempt. On an error the op is freed and its end never runs. */
static enum err op_start(struct s3_op *op)
{
    enum err rc;

    if (!op)
        return ERR_NOMEM;
    rc = op_send(op, 0);
    if (rc != ERR_OK) {
        log_error("storage: %s %s: cannot start (%s)", op->method, op_name(op), err_name(rc));
        op_free(op);
        return rc == ERR_TIMEOUT ? ERR_UNAVAILABLE : rc;
    }
    return ERR_OK;
}

/* ------------------------------------------------------------------ the operations */

/* Whether a PUT or DELETE got the answer it wanted: PUT 200; DELETE 204 or 200, or 404
 * (deleting what is gone is fine). */
static bool done_status_ok(const struct s3_op *op, long status)
{
    if (strcmp(op->method, "PUT") == 0)
        return status == 200;
    return status == 204 || status == 200 || status == 404;
}

/* The end of a PUT or DELETE: the caller's done gets ERR_OK, ERR_NOMEM or ERR_UNAVAILABLE. */
static void done_end(struct s3_op *op, enum err rc, struct httpc_response *res)
{
    storage_done_fn done = op->done;
    void *arg = op->arg;

    if (rc == ERR_OK && !done_status_ok(op, res->status)) {
        log_status(op, res);
        rc = ERR_UNAVAILABLE;
    } else if (rc != ERR_OK) {
        log_error("storage: %s %s failed (%s)", op->method, op_name(op), err_name(rc));
        rc = rc == ERR_NOMEM ? ERR_NOMEM : ERR_UNAVAILABLE;
    }
    httpc_response_free(res);
    op_free(op);
    done(arg, rc);
}

static enum err s3_put(struct storage *s, const char *key, const void *data, size_t len,
                       const char *content_type, storage_done_fn done, void *arg)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct s3_op *op =
        op_new(s3, "PUT", key, NULL, 0, data, len, content_type, S3_MAX_ERROR_BODY, done_end);

    if (op) {
        op->done = done;
        op->arg = arg;
    }
    return op_start(op);
}

static void get_end(struct s3_op *op, enum err rc, struct httpc_response *res)
{
    storage_got_fn got = op->got;
    void *arg = op->arg, *data = NULL;
    size_t len = 0;

    if (rc == ERR_OK) {
        if (res->status == 200) {
            data = res->body ? res->body : calloc(1, 1);
            len = res->body ? res->body_len : 0;
            res->body = NULL;
            rc = data ? ERR_OK : ERR_NOMEM;
        } else if (res->status == 404) {
            rc = ERR_NOT_FOUND;
        } else {
            log_status(op, res);
            rc = ERR_UNAVAILABLE;
        }
    } else if (rc != ERR_NOMEM && rc != ERR_TOO_LARGE) {
        rc = ERR_UNAVAILABLE;
    }
    httpc_response_free(res);
    op_free(op);
    got(arg, rc, data, len);
}

static enum err s3_get(struct storage *s, const char *key, storage_got_fn got, void *arg)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct s3_op *op = op_new(s3, "GET", key, NULL, 0, NULL, 0, NULL, S3_MAX_OBJECT, get_end);

    if (op) {
        op->got = got;
        op->arg = arg;
    }
    return op_start(op);
}

static enum err s3_del(struct storage *s, const char *key, storage_done_fn done, void *arg)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct s3_op *op = op_new(s3, "DELETE", key, NULL, 0, NULL, 0, NULL, 0, done_end);

    if (op) {
        op->done = done;
        op->arg = arg;
    }
    return op_start(op);
}

/* ------------------------------------------------------------------ synchronous calls */

static void wait_end(struct s3_op *op, enum err rc, struct httpc_response *res)
{
    struct s3_wait *w = op->wait;

    op_free(op);
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->res = res;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu); /* the waiter may return now: w is not touched again */
}

/*
 * Sends op (made with wait_end) and waits for its end: ERR_OK with the answer in *res
 * (the caller frees it), or why not (*res then NULL). Never from the httpc thread.
 */
static enum err op_wait(struct s3_op *op, struct httpc_response **res)
{
    struct s3_wait w = {.done = false};
    enum err rc;

    *res = NULL;
    if (!op)
        return ERR_NOMEM;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    op->wait = &w;
    rc = op_start(op);
    if (rc == ERR_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.rc;
        if (rc == ERR_OK)
            *res = w.res;
        else
            httpc_response_free(w.res);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

static enum err s3_check(struct storage *s)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct httpc_response *res = NULL;
    enum err rc = op_wait(op_new(s3, "HEAD", NULL, NULL, 0, NULL, 0, NULL, 0, wait_end), &res);

    if (rc == ERR_OK && res->status != 200) {
        log_error("storage: HEAD %s: HTTP %ld", s3->bucket, res->status);
        rc = res->status == 404                           ? ERR_NOT_FOUND
             : (res->status == 403 || res->status == 401) ? ERR_UNAUTHORIZED
                                                          : ERR_UNAVAILABLE;
    } else if (rc != ERR_OK && rc != ERR_NOMEM) {
        rc = ERR_UNAVAILABLE;
    }
    httpc_response_free(res);
    return rc;
}

/* ------------------------------------------------------------------ ListObjectsV2 */

/* The text of the first <tag>…</tag> in [p, end), or NULL; *after is set past it. */
static const char *xml_find(const char *p, const char *end, const char *tag, size_t *n,
                            const char **after)
{
    char open[48], close[48];
    const char *s, *e;
    size_t lo, lc;

    lo = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
    lc = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
    s = memmem(p, (size_t)(end - p), open, lo);
    if (!s)
        return NULL;
    s += lo;
    e = memmem(s, (size_t)(end - s), close, lc);
    if (!e)
        return NULL;
    *n = (size_t)(e - s);
    if (after)
        *after = e + lc;
    return s;
}

/* XML text with the five entities and numeric references decoded; malloc'd, NULL if bad. */
static char *xml_text(const char *s, size_t n)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *out = malloc(n + 1), *o = out; /* a reference never decodes longer than itself */
    size_t i = 0;

    if (!out)
        return NULL;
    while (i < n) {
        bool done = false;
        if (s[i] != '&') {
            *o++ = s[i++];
            continue;
        }
        for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
            size_t l = strlen(ents[k].name);
            if (n - i >= l && memcmp(s + i, ents[k].name, l) == 0) {
                *o++ = ents[k].c;
                i += l;
                done = true;
                break;
            }
        }
        if (!done && n - i > 3 && s[i + 1] == '#') {
            unsigned long cp = 0;
            size_t j = i + 2;
            int base = 10;
            if (s[j] == 'x') {
                base = 16;
                j++;
            }
            for (; j < n && s[j] != ';' && cp <= 0x10FFFF; j++) {
                int d = (s[j] >= '0' && s[j] <= '9')                 ? s[j] - '0'
                        : (base == 16 && s[j] >= 'a' && s[j] <= 'f') ? s[j] - 'a' + 10
                        : (base == 16 && s[j] >= 'A' && s[j] <= 'F') ? s[j] - 'A' + 10
                                                                     : -1;
                if (d < 0)
                    break;
                cp = cp * (unsigned long)base + (unsigned long)d;
            }
            if (j < n && s[j] == ';' && cp > 0 && cp <= 0x10FFFF) {
                if (cp < 0x80) {
                    *o++ = (char)cp;
                } else if (cp < 0x800) {
                    *o++ = (char)(0xC0 | (cp >> 6));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    *o++ = (char)(0xE0 | (cp >> 12));
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else {
                    *o++ = (char)(0xF0 | (cp >> 18));
                    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                }
                i = j + 1;
                done = true;
            }
        }
        if (!done) {
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

/* "2009-10-12T17:50:30.000Z" as Unix milliseconds; 0 if unreadable. */
static int64_t iso_ms(const char *s, size_t n)
{
    struct tm tm = {0};
    int ms = 0;
    char buf[40];

    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Calls fn for each <Contents> of one page; writes the next token (malloc'd) or NULL. */
static enum err list_page(const char *xml, size_t len, storage_list_fn fn, void *ctx, char **next)
{
    const char *p = xml, *end = xml + len, *t;
    size_t n;
    bool truncated;

    *next = NULL;
    if (!memmem(xml, len, "<ListBucketResult", 17))
        return ERR_UNAVAILABLE;
    for (;;) {
        const char *body, *after;
        size_t bn;
        struct storage_object o = {0};
        char *key;
        enum err rc;

        body = xml_find(p, end, "Contents", &bn, &after);
        if (!body)
            break;
        t = xml_find(body, body + bn, "Key", &n, NULL);
        key = t ? xml_text(t, n) : NULL;
        if (!key)
            return ERR_UNAVAILABLE;
        o.key = key;
        t = xml_find(body, body + bn, "Size", &n, NULL);
        if (t)
            o.size = strtoull(t, NULL, 10);
        t = xml_find(body, body + bn, "LastModified", &n, NULL);
        if (t)
            o.mtime_ms = iso_ms(t, n);
        rc = fn(ctx, &o);
        free(key);
        if (rc != ERR_OK)
            return rc;
        p = after;
    }
    t = xml_find(xml, end, "IsTruncated", &n, NULL);
    truncated = t && n == 4 && memcmp(t, "true", 4) == 0;
    if (!truncated)
        return ERR_OK;
    t = xml_find(xml, end, "NextContinuationToken", &n, NULL);
    *next = t && n ? xml_text(t, n) : NULL;
    return *next ? ERR_OK : ERR_UNAVAILABLE; /* truncated without a way on */
}

static enum err s3_list(struct storage *s, const char *prefix, storage_list_fn fn, void *ctx)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    char *token = NULL;
    enum err rc;

    do {
        struct sigv4_kv q[3] = {
            {"list-type", "2"}, {"prefix", prefix}, {"continuation-token", token}};
        struct httpc_response *res = NULL;
        char *next = NULL;

        rc = op_wait(
            op_new(s3, "GET", NULL, q, token ? 3 : 2, NULL, 0, NULL, S3_MAX_LISTING, wait_end),
            &res);
        if (rc == ERR_OK && res->status != 200) {
            char code[64];
            error_code(res->body, code);
            log_error("storage: GET %s (list): HTTP %ld%s%s", s3->bucket, res->status,
                      code[0] ? " " : "", code);
            rc = res->status == 404 ? ERR_NOT_FOUND : ERR_UNAVAILABLE;
        } else if (rc == ERR_OK) {
            rc = list_page(res->body ? res->body : "", res->body_len, fn, ctx, &next);
        } else if (rc != ERR_NOMEM) {
            rc = ERR_UNAVAILABLE;
        }
        httpc_response_free(res);
        free(token);
        token = next;
    } while (rc == ERR_OK && token);
    free(token);
    return rc;
}

/* ------------------------------------------------------------------ URLs */

static char *s3_url(struct storage *s, const char *key, struct arena *a)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct sigv4_key k = {s3->access_key, s3->secret_key, s3->region, "s3"};
    struct sigv4_request r = {.method = "GET", .host = s3->host};
    char *path = NULL, *enc = NULL, *query = NULL, *url = NULL;

    if (!s3->private_acl) {
        enc = sigv4_uri_encode(key, true);
        url = enc ? arena_printf(a, "%s/%s", s3->public_base, enc) : NULL;
        goto out;
    }
    path = call_path(s3, key);
    if (!path)
        goto out;
    r.path = path;
    enc = sigv4_uri_encode(path, true);
    if (!enc || sigv4_presign(&k, &r, time(NULL), s3->url_ttl, &query) != ERR_OK)
        goto out;
    url = arena_printf(a, "%s%s?%s", s3->origin, enc, query);
out:
    free(path);
    free(enc);
    free(query);
    return url;
}

/* ------------------------------------------------------------------ open, close */

static void s3_close(struct storage *s)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;

    free(s3->origin);
    free(s3->host);
    free(s3->prefix);
    free(s3->bucket);
    free(s3->region);
    free(s3->access_key);
    if (s3->secret_key) {
        explicit_bzero(s3->secret_key, strlen(s3->secret_key));
        free(s3->secret_key);
    }
    free(s3->public_base);
    free(s3);
}

/* Splits scheme://authority/path into origin, authority and path (no trailing '/'). */
static enum err parse_endpoint(struct storage_s3 *s3, const char *url, const char *bucket)
{
    const char *sep = strstr(url, "://"), *auth, *path;
    size_t plen;

    if (!sep || strchr(bucket, '/') || !*bucket)
        return ERR_INVALID;
    auth = sep + 3;
    path = auth + strcspn(auth, "/?#");
    if (path == auth || memchr(auth, '@', (size_t)(path - auth)) || (*path && *path != '/'))
        return ERR_INVALID; /* no host, credentials in the URL, or a query */
    plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    s3->origin = strndup(url, (size_t)(auth - url) + (size_t)(path - auth));
    s3->host = strndup(auth, (size_t)(path - auth));
    if (asprintf(&s3->prefix, "%.*s/%s", (int)plen, path, bucket) < 0)
        s3->prefix = NULL;
    return s3->origin && s3->host && s3->prefix ? ERR_OK : ERR_NOMEM;
}

static enum err s3_open(const struct config *cfg, struct httpc *http, struct storage **out)
{
    struct storage_s3 *s3 = calloc(1, sizeof(*s3));
    struct arena *a = arena_new();
    const char *region, *public_base;
    enum err rc = ERR_NOMEM;

    if (!s3 || !a) {
        free(s3);
        arena_free(a);
        return ERR_NOMEM;
    }
    s3->base.ops = &storage_s3_ops;
    s3->http = http;
    if (!http || !cfg->spaces_key || !cfg->spaces_secret || !cfg->storage_endpoint_url) {
        rc = ERR_INVALID;
        goto fail;
    }
    rc = parse_endpoint(s3, cfg->storage_endpoint_url,
                        cfg->spaces_bucket ? cfg->spaces_bucket : "novadraw");
    if (rc != ERR_OK) {
        if (rc == ERR_INVALID)
            log_error("storage: STORAGE_ENDPOINT_URL or SPACES_BUCKET cannot be used");
        goto fail;
    }
    rc = ERR_NOMEM;
    s3->bucket = strdup(cfg->spaces_bucket ? cfg->spaces_bucket : "novadraw");
    region = storage_s3_region(cfg, a);
    public_base = storage_s3_public_base(cfg, a);
    if (!region || !public_base)
        goto fail;
    s3->region = strdup(region);
    s3->public_base = strdup(public_base);
    s3->access_key = strdup(cfg->spaces_key);
    s3->secret_key = strdup(cfg->spaces_secret);
    s3->private_acl = cfg->storage_acl && strcmp(cfg->storage_acl, "private") == 0;
    s3->url_ttl = cfg->signed_url_ttl > 0 ? cfg->signed_url_ttl : 3600;
    if (!s3->bucket || !s3->region || !s3->public_base || !s3->access_key || !s3->secret_key)
        goto fail;
    if (!*s3->region) {
        rc = ERR_INVALID;
        goto fail;
    }
    log_info("storage: s3 endpoint %s bucket %s region %s acl %s", s3->origin, s3->bucket,
             s3->region, s3->private_acl ? "private" : "public-read");
    arena_free(a);
    *out = &s3->base;
    return ERR_OK;
fail:
    arena_free(a);
    s3_close(&s3->base);
    return rc;
}

const struct storage_ops storage_s3_ops = {
    .name = "s3",
    .open = s3_open,
    .close = s3_close,
    .put = s3_put,
    .get = s3_get,
    .del = s3_del,
    .url = s3_url,
    .open_file = NULL,
    .check = s3_check,
    .list = s3_list,
};
