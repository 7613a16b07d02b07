/*
 * s3.c - the S3-compatible storage backend (DigitalOcean Spaces, AWS S3, any
 * S3 server) over libcurl: path-style requests {endpoint}/{bucket}/{key}, signed
 * with storage/sigv4.c; PUT, GET, DELETE, HEAD bucket, ListObjectsV2. Public-read
 * objects are served from SPACES_PUBLIC_URL; private ones by presigned GET URLs.
 *
 * Owns its copies of the settings and a small pool of curl easy handles (their
 * connections are reused). Thread-safe: settings are read-only after open; the
 * pool is a mutex-protected free list, and a handle is used by one call at a time.
 * The secret and the Authorization header are never logged.
 */
#include "storage.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "storage/sigv4.h"
#include "util/buf.h"
#include "util/id.h"
#include "util/log.h"
#include "util/net.h"

#define S3_POOL_MAX 8                 /* idle handles kept; more callers make more */
#define S3_ATTEMPTS 3                 /* per call, on 5xx, 429 and transport errors */
#define S3_BACKOFF_MS 100             /* first wait; doubles, plus up to as much jitter */
#define S3_CONNECT_TIMEOUT_MS 5000L   /* per connection */
#define S3_DEADLINE_MS 30000L         /* per call, every attempt included */
#define S3_MAX_OBJECT (512u << 20)    /* GET refuses bigger objects */
#define S3_MAX_LISTING (16u << 20)    /* one ListObjectsV2 page (1000 keys is ~300 KiB) */
#define S3_MAX_ERROR_BODY (64u << 10) /* an error's XML, for its <Code> */
#define S3_CACHE_CONTROL "public, max-age=31536000, immutable"
#define S3_USER_AGENT "novadraw/0.1"

struct storage_s3 {
    struct storage base;
    char *origin; /* scheme://authority, from STORAGE_ENDPOINT_URL */
    char *host;   /* authority as the Host header: host[:port] */
    char *prefix; /* the endpoint's own path ("" usually), then /bucket */
    char *bucket;
    char *region;
    char *access_key;
    char *secret_key;
    char *public_base; /* public-read URL base, no trailing slash */
    bool private_acl;
    long url_ttl;

    pthread_mutex_t lock; /* guards idle/n_idle */
    CURL *idle[S3_POOL_MAX];
    size_t n_idle;
};

/* One request as s3_perform() sends it. */
struct s3_call {
    const char *method;           /* GET, PUT, DELETE, HEAD */
    const char *key;              /* NULL: the bucket itself */
    const struct sigv4_kv *query; /* raw */
    size_t n_query;
    const void *body; /* PUT */
    size_t body_len;
    const char *content_type; /* PUT */
    size_t max_response;      /* body bytes kept on 2xx (0: none) */
};

/* A bounded response body. */
struct s3_upload {
    const unsigned char *p;
    size_t len, off;
};

struct s3_result {
    long status; /* 0: no HTTP answer */
    struct buf body;
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

/* ------------------------------------------------------------------ the handle pool */

static CURL *pool_take(struct storage_s3 *s3)
{
    CURL *h = NULL;

    pthread_mutex_lock(&s3->lock);
    if (s3->n_idle > 0)
        h = s3->idle[--s3->n_idle];
    pthread_mutex_unlock(&s3->lock);
    if (h) {
        curl_easy_reset(h); /* options gone; live connections and DNS cache kept */
        return h;
    }
    return curl_easy_init();
}

static void pool_give(struct storage_s3 *s3, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&s3->lock);
    if (s3->n_idle < S3_POOL_MAX) {
        s3->idle[s3->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s3->lock);
    curl_easy_cleanup(h); /* NULL is a no-op */
}

/* ------------------------------------------------------------------ curl callbacks */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    size_t n = size * nmemb;

    return buf_add(ctx, data, n) ? n : 0; /* 0 aborts the transfer */
}

static size_t on_upload(char *buf, size_t size, size_t nmemb, void *ctx)
{
    struct s3_upload *u = ctx;
    size_t n = size * nmemb, left = u->len - u->off;

    if (n > left)
        n = left;
    if (n)
        memcpy(buf, u->p + u->off, n);
    u->off += n;
    return n;
}

static int on_seek(void *ctx, curl_off_t offset, int origin)
{
    struct s3_upload *u = ctx;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > u->len)
        return CURL_SEEKFUNC_FAIL;
    u->off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ------------------------------------------------------------------ one request */

static int64_t now_ms_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The raw (unencoded) path of a call: {prefix}/{bucket}[/{key}]. */
static char *call_path(const struct storage_s3 *s3, const char *key)
{
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", s3->prefix, key ? "/" : "", key ? key : "") < 0)
        return NULL;
    return p;
}

/* origin + encoded path + ?encoded query, for curl. */
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

static struct curl_slist *add_header(struct curl_slist *list, bool *ok, const char *name,
                                     const char *value)
{
    char *line = NULL;
    struct curl_slist *grown;

    if (!*ok)
        return list;
    if (asprintf(&line, "%s: %s", name, value) < 0) {
        *ok = false;
        return list;
    }
    grown = curl_slist_append(list, line);
    free(line);
    if (!grown) {
        *ok = false;
        return list;
    }
    return grown;
}

/* The S3 error code (<Code>…</Code>) of an error body, for logs; "" if none. */
static void error_code(const struct buf *b, char out[64])
{
    const char *p = b->p ? strstr(b->p, "<Code>") : NULL, *end;
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

static bool retryable_status(long status)
{
    return status == 429 || (status >= 500 && status <= 599);
}

static bool retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_WRITE_ERROR: /* body over our cap */
    case CURLE_OUT_OF_MEMORY:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_ABORTED_BY_CALLBACK:
        return false;
    default:
        return true;
    }
}

/* One attempt. ERR_OK once any HTTP answer came (res->status), else why not. */
static enum err attempt(struct storage_s3 *s3, CURL *h, const struct s3_call *c, const char *path,
                        const char *url, const char *payload_hash, long timeout_ms,
                        struct s3_result *res, CURLcode *curl_rc)
{
    struct sigv4_key key = {s3->access_key, s3->secret_key, s3->region, "s3"};
    struct sigv4_kv signed_h[3];
    size_t n_signed = 0;
    struct sigv4_request r = {
        .method = c->method,
        .host = s3->host,
        .path = path,
        .query = c->query,
        .n_query = c->n_query,
        .headers = signed_h,
        .payload_hash = payload_hash,
    };
    struct sigv4_auth auth = {0};
    struct s3_upload up = {c->body, c->body_len, 0};
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    bool ok = true;
    enum err rc;

    if (strcmp(c->method, "PUT") == 0) {
        signed_h[n_signed++] = (struct sigv4_kv){"content-type", c->content_type};
        signed_h[n_signed++] = (struct sigv4_kv){"cache-control", S3_CACHE_CONTROL};
        if (!s3->private_acl)
            signed_h[n_signed++] = (struct sigv4_kv){"x-amz-acl", "public-read"};
    }
    r.n_headers = n_signed;
    rc = sigv4_sign(&key, &r, time(NULL), &auth);
    if (rc != ERR_OK)
        return rc;

    hdrs = add_header(hdrs, &ok, "Host", s3->host);
    hdrs = add_header(hdrs, &ok, "x-amz-date", auth.amz_date);
    hdrs = add_header(hdrs, &ok, "x-amz-content-sha256", payload_hash);
    for (size_t i = 0; i < n_signed; i++)
        hdrs = add_header(hdrs, &ok, signed_h[i].name, signed_h[i].value);
    hdrs = add_header(hdrs, &ok, "Authorization", auth.authorization);
    if (ok) {
        struct curl_slist *g = curl_slist_append(hdrs, "Expect:"); /* no 100-continue */
        if (g)
            g = curl_slist_append(g, "Accept:");
        ok = g != NULL;
        if (g)
            hdrs = g;
    }
    rc = ERR_NOMEM;
    if (!ok)
        goto out;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, S3_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, S3_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &res->body);
    if (strcmp(c->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(h, CURLOPT_READDATA, &up);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &up);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body_len);
    } else if (strcmp(c->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    }

    *curl_rc = curl_easy_perform(h);
    res->status = 0;
    if (*curl_rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        rc = ERR_OK;
    } else {
        log_warn("storage: %s %s: %s", c->method, c->key ? c->key : s3->bucket,
                 errbuf[0] ? errbuf : curl_easy_strerror(*curl_rc));
        rc = res->body.too_big ? ERR_TOO_LARGE : ERR_UNAVAILABLE;
    }
out:
    curl_slist_free_all(hdrs);
    sigv4_auth_free(&auth);
    return rc;
}

/*
 * Sends c, retrying 5xx, 429 and transport failures with exponential backoff and
 * jitter, within S3_DEADLINE_MS. ERR_OK means an HTTP answer (any status) is in res,
 * whose body the caller frees. ERR_UNAVAILABLE: no answer worth having.
 */
static enum err s3_perform(struct storage_s3 *s3, const struct s3_call *c, struct s3_result *res)
{
    char payload_hash[SIGV4_HEX_LEN];
    char *path = call_path(s3, c->key);
    char *url = path ? call_url(s3, path, c->query, c->n_query) : NULL;
    int64_t deadline = now_ms_monotonic() + S3_DEADLINE_MS;
    CURL *h = NULL;
    enum err rc = ERR_NOMEM;

    memset(res, 0, sizeof(*res));
    if (!path || !url)
        goto out;
    sigv4_sha256_hex(c->body, c->body_len, payload_hash);
    for (int i = 0; i < S3_ATTEMPTS; i++) {
        int64_t left = deadline - now_ms_monotonic();
        CURLcode crc = CURLE_OK;

        if (left <= 0) {
            rc = ERR_UNAVAILABLE;
            break;
        }
        if (!h)
            h = pool_take(s3);
        if (!h) {
            rc = ERR_NOMEM;
            break;
        }
        free(res->body.p);
        res->body = (struct buf){.max = c->max_response ? c->max_response : S3_MAX_ERROR_BODY};
        rc = attempt(s3, h, c, path, url, payload_hash, (long)left, res, &crc);
        if (rc == ERR_OK && !retryable_status(res->status))
            break;
        if (rc != ERR_OK && (rc != ERR_UNAVAILABLE || !retryable_curl(crc)))
            break;
        if (rc != ERR_OK) {
            /* a failed transfer may leave the handle's connection in doubt: drop it */
            curl_easy_cleanup(h);
            h = NULL;
        }
        if (i + 1 < S3_ATTEMPTS) {
            long wait = S3_BACKOFF_MS << i;
            unsigned short r = 0;
            id_random(&r, sizeof(r));
            wait += (long)(r % (unsigned)(wait + 1));
            if (now_ms_monotonic() + wait >= deadline)
                break;
            if (rc == ERR_OK)
                log_warn("storage: %s %s: HTTP %ld, retrying", c->method,
                         c->key ? c->key : s3->bucket, res->status);
            sleep_ms(wait);
        }
    }
out:
    pool_give(s3, h);
    free(url);
    free(path);
    return rc;
}

static void result_free(struct s3_result *r)
{
    free(r->body.p);
    r->body.p = NULL;
}

/* Logs a final non-success answer with the S3 error code (never the request's headers). */
static void log_status(const struct storage_s3 *s3, const struct s3_call *c,
                       const struct s3_result *r)
{
    char code[64];
    error_code(&r->body, code);
    log_error("storage: %s %s: HTTP %ld%s%s", c->method, c->key ? c->key : s3->bucket, r->status,
              code[0] ? " " : "", code);
}

/* ------------------------------------------------------------------ the operations */

static enum err s3_put(struct storage *s, const char *key, const void *data, size_t len,
                       const char *content_type)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct s3_call c = {
        .method = "PUT", .key = key, .body = data, .body_len = len, .content_type = content_type};
    struct s3_result r;
    enum err rc = s3_perform(s3, &c, &r);

    if (rc == ERR_OK && r.status != 200) {
        log_status(s3, &c, &r);
        rc = ERR_UNAVAILABLE;
    } else if (rc != ERR_OK) {
        log_error("storage: PUT %s failed (%s)", key, err_name(rc));
        rc = rc == ERR_NOMEM ? ERR_NOMEM : ERR_UNAVAILABLE;
    }
    result_free(&r);
    return rc;
}

static enum err s3_get(struct storage *s, const char *key, void **data, size_t *len)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct s3_call c = {.method = "GET", .key = key, .max_response = S3_MAX_OBJECT};
    struct s3_result r;
    enum err rc = s3_perform(s3, &c, &r);

    if (rc == ERR_OK) {
        if (r.status == 200) {
            *data = r.body.p ? r.body.p : calloc(1, 1);
            *len = r.body.len;
            r.body.p = NULL;
            rc = *data ? ERR_OK : ERR_NOMEM;
        } else if (r.status == 404) {
            rc = ERR_NOT_FOUND;
        } else {
            log_status(s3, &c, &r);
            rc = ERR_UNAVAILABLE;
        }
    } else if (rc != ERR_NOMEM && rc != ERR_TOO_LARGE) {
        rc = ERR_UNAVAILABLE;
    }
    result_free(&r);
    return rc;
}

static enum err s3_del(struct storage *s, const char *key)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct s3_call c = {.method = "DELETE", .key = key};
    struct s3_result r;
    enum err rc = s3_perform(s3, &c, &r);

    if (rc == ERR_OK && r.status != 204 && r.status != 200 && r.status != 404) {
        log_status(s3, &c, &r);
        rc = ERR_UNAVAILABLE;
    } else if (rc != ERR_OK && rc != ERR_NOMEM) {
        rc = ERR_UNAVAILABLE;
    }
    result_free(&r);
    return rc;
}

static enum err s3_check(struct storage *s)
{
    struct storage_s3 *s3 = (struct storage_s3 *)s;
    struct s3_call c = {.method = "HEAD"};
    struct s3_result r;
    enum err rc = s3_perform(s3, &c, &r);

    if (rc == ERR_OK && r.status != 200) {
        log_status(s3, &c, &r);
        rc = r.status == 404                        ? ERR_NOT_FOUND
             : (r.status == 403 || r.status == 401) ? ERR_UNAUTHORIZED
                                                    : ERR_UNAVAILABLE;
    } else if (rc != ERR_OK && rc != ERR_NOMEM) {
        rc = ERR_UNAVAILABLE;
    }
    result_free(&r);
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
        struct s3_call c = {
            .method = "GET", .query = q, .n_query = token ? 3 : 2, .max_response = S3_MAX_LISTING};
        struct s3_result r;
        char *next = NULL;

        rc = s3_perform(s3, &c, &r);
        if (rc == ERR_OK && r.status != 200) {
            log_status(s3, &c, &r);
            rc = r.status == 404 ? ERR_NOT_FOUND : ERR_UNAVAILABLE;
        } else if (rc == ERR_OK) {
            rc = list_page(r.body.p ? r.body.p : "", r.body.len, fn, ctx, &next);
        } else if (rc != ERR_NOMEM) {
            rc = ERR_UNAVAILABLE;
        }
        result_free(&r);
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

    for (size_t i = 0; i < s3->n_idle; i++)
        curl_easy_cleanup(s3->idle[i]);
    pthread_mutex_destroy(&s3->lock);
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

static enum err s3_open(const struct config *cfg, struct storage **out)
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
    pthread_mutex_init(&s3->lock, NULL);
    if (!net_global_init()) {
        log_error("storage: the HTTP client library failed to initialise");
        rc = ERR_INTERNAL;
        goto fail;
    }
    if (!cfg->spaces_key || !cfg->spaces_secret || !cfg->storage_endpoint_url) {
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
