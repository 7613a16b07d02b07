/*
 * server.c - the HTTP server over libmicrohttpd (the only includer of
 * microhttpd.h). One struct exchange per request carries it from the first
 * callback (route, auth, caps), through the body (streamed into the multipart
 * parser, capped as bytes arrive), to the handler and the one log line written
 * when MHD reports the request complete.
 *
 * Owns the MHD daemon and each exchange. Thread-safe: MHD calls back on its pool
 * threads, one exchange on one thread at a time; the server's own shared state is atomics
 * (request ids, the count in flight, the stopping flag).
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth_cache.h"
#include "http/cors.h"
#include "http/gzip.h"
#include "idempotency.h"
#include "ratelimit.h"
#include "metrics.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/timefmt.h"

#define SMALL_FIELD_CAP (64 * 1024) /* text fields: prompt, tutorial_id, language */
#define BODY_OVERHEAD (64 * 1024)   /* multipart boundaries and part headers */
#define JSON_BODY_MAX (64 * 1024)   /* a BODY_JSON route's document */
#define POST_BUFFER 65536
#define DRAIN_ALLOWANCE (32ULL * 1024 * 1024) /* past cap + this, a body is cut off */
/* A connection's memory pool (MHD's default is 32 KiB): it holds the request head (the
 * read buffer starts at half of it) and one 56-byte record per header line and query
 * argument; a head that outgrows it is answered 431/414 by MHD itself. Mapped, so a
 * page costs memory only once touched. The increment is the least room the read buffer
 * keeps for one recv() while a body streams. */
#define CONN_MEMORY_LIMIT (64 * 1024)
#define CONN_MEMORY_INCREMENT (4 * 1024)
/* Request targets we interpret (16 KiB, uvicorn's bound on a whole head); past either
 * bound the answer is 414, given before MHD parses the arguments (see on_uri). */
#define TARGET_MAX (16 * 1024)
#define QUERY_ARGS_MAX 64
#define BUSY_DETAIL "Too many uploads in progress; try again shortly"
/* Past HTTP_TIMEOUT, a body arriving slower than this on average is cut off. */
#define BODY_MIN_RATE 1024 /* bytes per second */

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    const struct route *routes;
    size_t n_routes;
    atomic_long in_flight;
    atomic_bool stopping; /* set by http_server_quiesce: close connections after answering */
    atomic_ulong next_id;
    unsigned id_prefix;
    struct auth_cache *tokens; /* verified tokens; NULL: verify every time */
    struct cors *cors;         /* CORS_ORIGINS; NULL: no origin allowed */
    bool access_log;           /* ACCESS_LOG=on */
    /* bytes of request bodies held (declared lengths reserved up front, the rest as they
     * arrive) against HTTP_BODY_BUDGET: past it a body is refused with 503 */
    atomic_llong body_held;
    long long body_budget;
    /* slow heads: every connection's deadline for its next request head (struct watch) */
    int64_t timeout_ns; /* HTTP_TIMEOUT */
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_wake;
    struct watch *watched; /* guarded by watch_lock */
    bool watch_stop;       /* guarded by watch_lock */
    pthread_t watchdog;
    bool watchdog_started;
};

/*
 * A connection as the watchdog sees it. MHD's own timeout is an idle one: a client that
 * trickles a request head a byte at a time is never idle. So each connection has a
 * deadline for its next head (HTTP_TIMEOUT from when it opened or its last request
 * ended), and the watchdog shuts the socket of one that misses it; MHD then closes the
 * connection. MHD reports a connection closed (on_connection) before it closes the
 * socket, and the entry leaves the list under watch_lock then: fd is never reused
 * under the watchdog's feet.
 */
struct watch {
    int fd;
    atomic_llong deadline_ns; /* 0: a request is being read or answered */
    struct watch *prev, *next;
};

/* A deferred answer's states (see request_defer): the handler's thread and the
 * thread that finishes the work race to move out of DEFER_RUNNING. */
enum { DEFER_NONE, DEFER_RUNNING, DEFER_SUSPENDED, DEFER_READY };

struct exchange {
    struct http_server *srv;
    struct MHD_Connection *conn;
    atomic_int defer;
    struct request req;
    struct response res;
    const struct route *route;
    struct MHD_PostProcessor *pp;
    uint64_t body_cap, body_seen;
    uint64_t body_held; /* this exchange's part of srv->body_held */
    size_t fields_cap;
    unsigned char *raw; /* a BODY_JSON route's body, JSON_BODY_MAX + 1 bytes; owned */
    bool body_too_large, body_malformed, body_busy, queued;
    bool target_refused;     /* on_uri refused the request target */
    bool counted;            /* in srv->in_flight: work to wait for when stopping */
    int64_t bytes;           /* the answer's body, -1 while unknown (streamed) */
    struct idempotency idem; /* a ROUTE_IDEMPOTENT route's key and fingerprint */
    struct ratelimit rate;   /* a ROUTE_RATE_LIMITED route's count, for its headers */
};

/* A streamed body (response_stream): shared by MHD's side (the content reader and its
 * free callback) and the producer, and freed by whichever lets go of it last. */
enum { STREAM_IDLE, STREAM_SUSPENDED, STREAM_WOKEN };

struct response_stream {
    response_read_fn read;
    void (*done)(void *arg);
    void *arg;
    struct MHD_Connection *conn; /* set when queued; touched by a waker only while suspended */
    atomic_int state;
    atomic_int refs; /* the server's and the producer's */
};

static void stream_unref(struct response_stream *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        free(s);
}

/* The server is done with the stream: the producer hears of it, the server lets go. */
static void stream_finish(struct response_stream *s)
{
    s->done(s->arg);
    stream_unref(s);
}

/* ---- exchange lifetime ----------------------------------------------------- */

static struct exchange *exchange_new(struct http_server *srv)
{
    struct exchange *x = calloc(1, sizeof(*x));

    if (!x)
        return NULL;
    x->req.arena = arena_new();
    if (!x->req.arena) {
        free(x);
        return NULL;
    }
    x->srv = srv;
    x->req.app = srv->app;
    x->req.start_ns = time_mono_ns();
    x->res.fd = -1;
    snprintf(x->req.id, sizeof(x->req.id), "%08x%08lx", srv->id_prefix,
             (unsigned long)(atomic_fetch_add(&srv->next_id, 1) & 0xffffffffUL));
    atomic_fetch_add(&srv->in_flight, 1);
    x->counted = true;
    return x;
}

static void exchange_free(struct exchange *x)
{
    if (!x)
        return;
    /* an answer made but never sent (the client went away) is final all the same;
     * work still running (only at a forced stop) leaves its key to the lease */
    if (x->idem.held && atomic_load(&x->defer) != DEFER_RUNNING &&
        atomic_load(&x->defer) != DEFER_SUSPENDED)
        idempotency_settle(&x->req, &x->idem, &x->res);
    idempotency_end(&x->idem);
    if (x->pp)
        MHD_destroy_post_processor(x->pp);
    for (size_t i = 0; i < x->req.n_fields; i++)
        free(x->req.fields[i].data);
    free(x->req.fields);
    free(x->raw);
    json_decref(x->req.error_list);
    free(x->res.body);
    if (x->res.fd >= 0)
        close(x->res.fd);
    if (x->res.stream) /* never handed to MHD */
        stream_finish(x->res.stream);
    atomic_fetch_sub(&x->srv->body_held, (long long)x->body_held);
    if (x->counted)
        atomic_fetch_sub(&x->srv->in_flight, 1);
    arena_free(x->req.arena);
    free(x);
}

/* ---- deferred answers ---------------------------------------------------------- */

static struct exchange *exchange_of(struct request *req)
{
    return (struct exchange *)((char *)req - offsetof(struct exchange, req));
}

const char *request_header(const struct request *req, const char *name)
{
    struct exchange *x = exchange_of((struct request *)req);

    return x->conn ? MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, name) : NULL;
}

void request_defer(struct request *req)
{
    atomic_store(&exchange_of(req)->defer, DEFER_RUNNING);
}

void request_resume(struct request *req)
{
    struct exchange *x = exchange_of(req);

    /* if the connection is already suspended, wake it; if not, the handler's thread
     * sees READY after the handler returns and answers without suspending */
    if (atomic_exchange(&x->defer, DEFER_READY) == DEFER_SUSPENDED)
        MHD_resume_connection(x->conn);
}

/* ---- streamed bodies ----------------------------------------------------------- */

enum err response_stream(struct response *res, response_read_fn read, void (*done)(void *arg),
                         void *arg, struct response_stream **producer)
{
    struct response_stream *s = calloc(1, sizeof(*s));

    if (!s || res->stream) {
        free(s);
        done(arg);
        return ERR_NOMEM;
    }
    s->read = read;
    s->done = done;
    s->arg = arg;
    atomic_init(&s->state, STREAM_IDLE);
    atomic_init(&s->refs, 2);
    res->stream = s;
    *producer = s;
    return ERR_OK;
}

void response_stream_wake(struct response_stream *s)
{
    int expected = STREAM_SUSPENDED;

    /* only a suspended connection is resumed (it cannot close while suspended, so conn
     * is alive); otherwise the reader, about to suspend, sees WOKEN and does not */
    if (atomic_compare_exchange_strong(&s->state, &expected, STREAM_WOKEN))
        MHD_resume_connection(s->conn);
    else if (expected == STREAM_IDLE)
        atomic_compare_exchange_strong(&s->state, &expected, STREAM_WOKEN);
}

void response_stream_release(struct response_stream *s)
{
    stream_unref(s);
}

/* MHD's content reader: the producer's bytes, or a sleep until it wakes us. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct response_stream *s = cls;
    long n;
    int expected = STREAM_IDLE;

    (void)pos;
    atomic_store(&s->state, STREAM_IDLE);
    n = s->read(s->arg, buf, max);
    if (n > 0)
        return (ssize_t)n;
    if (n == RESPONSE_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n != 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    /* nothing yet: suspend (returning 0 alone would spin the epoll thread), then
     * publish it; a wake that came meanwhile left WOKEN, so resume at once */
    MHD_suspend_connection(s->conn);
    if (!atomic_compare_exchange_strong(&s->state, &expected, STREAM_SUSPENDED))
        MHD_resume_connection(s->conn);
    return 0;
}

static void stream_free(void *cls)
{
    stream_finish(cls);
}

/* ---- responses -------------------------------------------------------------- */

static const char *header_of(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/*
 * A JSON body over GZIP_MIN_BYTES is gzipped when the client takes it (never a file
 * or a stream); such answers vary by Accept-Encoding. The gzipped body is another
 * representation, so its ETag becomes weak (If-None-Match compares weakly).
 */
static bool maybe_gzip(struct MHD_Connection *conn, struct exchange *x)
{
    struct response *res = &x->res;
    char *z;
    size_t zlen;

    if (!res->body || res->stream || res->fd >= 0 || res->body_len <= GZIP_MIN_BYTES ||
        !res->content_type || strncmp(res->content_type, "application/json", 16) != 0)
        return false;
    if (!gzip_accepted(header_of(conn, MHD_HTTP_HEADER_ACCEPT_ENCODING)) ||
        !gzip_compress(res->body, res->body_len, &z, &zlen))
        return true; /* sent as it is, but it could have been gzipped: Vary all the same */
    free(res->body);
    res->body = z;
    res->body_len = zlen;
    response_header(res, "Content-Encoding", "gzip");
    for (size_t i = 0; i < res->n_headers; i++)
        if (strcasecmp(res->headers[i].name, "ETag") == 0 &&
            strncmp(res->headers[i].value, "W/", 2) != 0)
            res->headers[i].value = arena_printf(x->req.arena, "W/%s", res->headers[i].value);
    return true;
}

/* CORS_ORIGINS (SPEC §14): an allowed origin may read the answer and its headers. */
static void add_cors(struct MHD_Connection *conn, struct exchange *x, struct MHD_Response *r)
{
    const char *origin;

    if (!cors_enabled(x->srv->cors))
        return;
    MHD_add_response_header(r, "Vary", "Origin");
    origin = header_of(conn, "Origin");
    if (!cors_allowed(x->srv->cors, origin)) /* other origins: no CORS headers */
        return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", origin); /* checked: no CR/LF */
    MHD_add_response_header(r, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

/* A rate-limited route's RateLimit-* headers (and Retry-After on its 429). */
static void add_rate_headers(struct MHD_Response *r, const struct exchange *x)
{
    char v[24];

    if (x->rate.limit <= 0)
        return;
    snprintf(v, sizeof(v), "%ld", x->rate.limit);
    MHD_add_response_header(r, "RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%ld", x->rate.remaining);
    MHD_add_response_header(r, "RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%ld", x->rate.reset);
    MHD_add_response_header(r, "RateLimit-Reset", v);
    if (x->res.status == 429)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
}

/* Every answer goes out here, deferred ones too: the one place it is final. */
static enum MHD_Result send_response(struct MHD_Connection *conn, struct exchange *x)
{
    struct response *res = &x->res;
    struct MHD_Response *r;
    enum MHD_Result ok;
    bool vary_encoding;

    idempotency_settle(&x->req, &x->idem, res); /* a held key stores it first, as it is */
    vary_encoding = maybe_gzip(conn, x);        /* then it may be gzipped for this client */
    x->bytes = res->stream ? -1 : res->fd >= 0 ? (int64_t)res->fd_size : (int64_t)res->body_len;
    if (res->stream) {
        res->stream->conn = conn;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, res->stream,
                                              stream_free);
        if (r)
            res->stream = NULL; /* MHD calls stream_free when done with it */
    } else if (res->fd >= 0) {
        r = MHD_create_response_from_fd_at_offset64(res->fd_size, res->fd, res->fd_offset);
        if (r)
            res->fd = -1; /* MHD closes it now */
    } else if (res->body_static) {
        r = MHD_create_response_from_buffer(res->body_len, (void *)res->body_static,
                                            MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(res->body_len, res->body ? res->body : (void *)"",
                                            res->body ? MHD_RESPMEM_MUST_FREE
                                                      : MHD_RESPMEM_PERSISTENT);
        if (r)
            res->body = NULL; /* MHD frees it now */
    }
    if (!r)
        return MHD_NO;
    if (res->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    MHD_add_response_header(r, "X-Request-Id", x->req.id);
    for (size_t i = 0; i < res->n_headers; i++)
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    if (vary_encoding)
        MHD_add_response_header(r, "Vary", "Accept-Encoding");
    add_cors(conn, x, r);
    add_rate_headers(r, x);
    if (atomic_load(&x->srv->stopping))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ok = MHD_queue_response(conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES)
        x->queued = true;
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct exchange *x, enum err err)
{
    if (x->res.stream) { /* an error is answered instead */
        stream_finish(x->res.stream);
        x->res.stream = NULL;
    }
    response_error(&x->req, &x->res, err);
    return send_response(conn, x);
}

static enum MHD_Result send_detail(struct MHD_Connection *conn, struct exchange *x, int status,
                                   const char *detail)
{
    if (response_detail(&x->res, status, detail) != ERR_OK)
        return send_error(conn, x, ERR_NOMEM);
    return send_response(conn, x);
}

/* ---- query and multipart --------------------------------------------------- */

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct exchange *x = cls;
    struct request *req = &x->req;

    (void)kind;
    if (req->n_query >= QUERY_ARGS_MAX)
        return MHD_NO; /* on_uri has refused more; stop here all the same */
    if (req->n_query % 8 == 0) {
        struct kv *grown = arena_alloc(req->arena, (req->n_query + 8) * sizeof(*grown));
        if (!grown)
            return MHD_NO;
        if (req->n_query)
            memcpy(grown, req->query, req->n_query * sizeof(*grown));
        req->query = grown;
    }
    req->query[req->n_query].key = arena_strdup(req->arena, key);
    req->query[req->n_query].value = arena_strdup(req->arena, value ? value : "");
    req->n_query++;
    return MHD_YES;
}

static size_t field_cap(const struct exchange *x, const char *name)
{
    const struct config *cfg = x->srv->app->cfg;

    if (strcmp(name, "file") == 0 || strcmp(name, "image") == 0)
        return (size_t)cfg->max_upload_bytes;
    if (strcmp(name, "audio") == 0)
        return (size_t)cfg->max_audio_bytes;
    return SMALL_FIELD_CAP;
}

static struct form_field *field_begin(struct exchange *x, const char *key, const char *filename)
{
    struct request *req = &x->req;
    struct form_field *f, *grown;

    if (req->n_fields >= 32)
        return NULL; /* more parts than any route takes: malformed */
    grown = grow(req->fields, &x->fields_cap, req->n_fields + 1, sizeof(*grown), 4, (size_t)-1 / 2);
    if (!grown)
        return NULL;
    req->fields = grown;
    f = &req->fields[req->n_fields];
    memset(f, 0, sizeof(*f));
    f->name = arena_strdup(req->arena, key);
    f->filename = filename ? arena_strdup(req->arena, filename) : NULL;
    f->cap = field_cap(x, key);
    if (!f->name)
        return NULL;
    req->n_fields++;
    return f;
}

static bool field_append(struct form_field *f, const char *data, size_t size)
{
    size_t need;

    if (f->too_large || size == 0)
        return true;
    if (size > f->cap - f->len) {
        f->too_large = true;
        free(f->data);
        f->data = NULL;
        f->len = 0;
        return true;
    }
    need = f->len + size + 1;
    if (need > f->alloc) {
        size_t ncap = f->alloc ? f->alloc : 4096;
        unsigned char *grown;
        while (ncap < need)
            ncap *= 2;
        if (ncap > f->cap + 1)
            ncap = f->cap + 1;
        grown = realloc(f->data, ncap);
        if (!grown)
            return false;
        f->data = grown;
        f->alloc = ncap;
    }
    memcpy(f->data + f->len, data, size);
    f->len += size;
    f->data[f->len] = '\0';
    return true;
}

static enum MHD_Result on_post_data(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size)
{
    struct exchange *x = cls;
    struct request *req = &x->req;
    struct form_field *f = req->n_fields ? &req->fields[req->n_fields - 1] : NULL;

    (void)kind;
    (void)content_type; /* never trusted: content decides */
    (void)transfer_encoding;
    if (!key)
        return MHD_YES;
    /* off == 0 starts a new part, unless it continues an empty part of the same name */
    if (off == 0 &&
        !(f && f->len == 0 && !f->too_large && strcmp(f->name, key) == 0 && !f->started)) {
        f = field_begin(x, key, filename);
        if (!f) {
            x->body_malformed = true;
            return MHD_NO;
        }
        idempotency_part(&x->idem, key, filename);
    }
    if (!f)
        return MHD_NO;
    if (size > 0)
        f->started = true;
    idempotency_data(&x->idem, data, size);
    if (!field_append(f, data, size)) {
        x->body_malformed = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* ---- the access handler ------------------------------------------------------ */

static uint64_t body_cap_of(const struct http_server *srv, enum route_body body)
{
    const struct config *cfg = srv->app->cfg;

    switch (body) {
    case BODY_NONE:
        return BODY_OVERHEAD;
    case BODY_IMAGE:
        return (uint64_t)cfg->max_upload_bytes + BODY_OVERHEAD;
    case BODY_IMAGE_AUDIO:
        return (uint64_t)cfg->max_upload_bytes + (uint64_t)cfg->max_audio_bytes + BODY_OVERHEAD;
    case BODY_AUDIO:
        return (uint64_t)cfg->max_audio_bytes + BODY_OVERHEAD;
    case BODY_JSON:
        return JSON_BODY_MAX;
    }
    return BODY_OVERHEAD;
}

/* Sets the connection's head deadline (0: none while a request is handled). */
static void watch_set(struct MHD_Connection *conn, int64_t deadline_ns)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct watch *w = ci ? ci->socket_context : NULL;

    if (w)
        atomic_store(&w->deadline_ns, deadline_ns);
}

/* Holds n more bytes of body against the budget; false (nothing held) if they do not fit. */
static bool body_hold(struct exchange *x, uint64_t n)
{
    struct http_server *srv = x->srv;
    long long held = atomic_fetch_add(&srv->body_held, (long long)n) + (long long)n;

    if (held > srv->body_budget) {
        atomic_fetch_sub(&srv->body_held, (long long)n);
        return false;
    }
    x->body_held += n;
    return true;
}

/* What the framing check (below) counts in a request's headers. */
struct framing {
    unsigned content_length, transfer_encoding, host;
    bool control; /* a control byte but tab (CR, LF, ...) in a header value; MHD 0.9.75 cuts a
                   * value at a NUL, which so stays unseen */
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    struct framing *f = cls;

    (void)kind;
    (void)key_size;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        f->transfer_encoding++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        f->host++;
    for (size_t i = 0; value && i < value_size; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            f->control = true;
    }
    return MHD_YES;
}

/*
 * The framing rules libmicrohttpd 0.9.75 does not enforce (RFC 9112 §6.3, §3.2): a
 * request whose body two parties could delimit differently is refused before any of
 * it is read, so that a proxy in front and this server never disagree on where a
 * request ends. NULL if the head is sound, else the 400's detail.
 */
static const char *framing_error(struct MHD_Connection *conn, const char *version)
{
    struct framing f = {0};

    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_header, &f);
    if (f.content_length > 1)
        return "More than one Content-Length header";
    if (f.transfer_encoding && f.content_length)
        return "Transfer-Encoding together with Content-Length";
    if (f.control)
        return "A control character in a header value";
    if (version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && f.host != 1)
        return f.host ? "More than one Host header" : "HTTP/1.1 request without a Host header";
    return NULL;
}

static enum err authenticate(struct MHD_Connection *conn, struct exchange *x)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct app *app = x->srv->app;
    char *token;
    size_t n;
    int64_t iat = -1;
    bool expired = false;
    enum err rc;

    while (h && (*h == ' ' || *h == '\t'))
        h++;
    if (!h || !*h)
        return request_fail(&x->req, ERR_UNAUTHORIZED, "Not authenticated");
    /* a credential that is not a bearer token cannot be validated (plain "Bearer"
     * challenge: RFC 6750 gives no error code without a token) */
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0'))
        return request_fail(&x->req, ERR_UNAUTHORIZED, "Could not validate credentials");
    h += 6;
    while (*h == ' ')
        h++;
    n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n == 0) /* "Bearer" and no token: no credentials, so no RFC 6750 error code */
        return request_fail(&x->req, ERR_UNAUTHORIZED, "Could not validate credentials");
    token = arena_strndup(x->req.arena, h, n);
    if (!token)
        return ERR_NOMEM;
    if (auth_cache_verify(x->srv->tokens, app->auth, token, time_now_ms() / 1000, x->req.user_id,
                          &iat, &expired) != ERR_OK)
        return request_fail_token(&x->req, expired);
    /* a token of a deleted account is refused; a new user's row is made */
    rc = db_user_admit(app->db, x->req.user_id, iat < 0 ? -1 : iat * 1000);
    if (rc == ERR_UNAUTHORIZED)
        return request_fail_token(&x->req, false);
    if (rc != ERR_OK)
        return request_fail(&x->req, ERR_UNAVAILABLE, "Database unavailable");
    return ERR_OK;
}

/* [A-Za-z0-9._-]{1,64} (SPEC §14): anything else is replaced, never echoed or logged. */
static bool request_id_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (n >= LOG_REQUEST_ID_MAX ||
            !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

/* The client's X-Request-Id if it is a good one (else the one exchange_new made);
 * from here on this thread's log lines name it. */
static void adopt_request_id(struct MHD_Connection *conn, struct exchange *x)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");

    if (h && request_id_ok(h))
        snprintf(x->req.id, sizeof(x->req.id), "%s", h);
    log_set_request(x->req.id);
}

/* A request that came while stopping: 503, and /health says why (SPEC §14). It is not
 * work the shutdown waits for. */
static enum MHD_Result refuse_stopping(struct MHD_Connection *conn, struct exchange *x)
{
    x->body_cap = BODY_OVERHEAD;
    if (x->counted) {
        x->counted = false;
        atomic_fetch_sub(&x->srv->in_flight, 1);
    }
    response_header(&x->res, "Retry-After", "1");
    if (strcmp(x->route->pattern, "/health") == 0) {
        if (response_json(&x->res, 503, json_pack("{s:s}", "status", "shutting down")) != ERR_OK)
            return send_error(conn, x, ERR_NOMEM);
        return send_response(conn, x);
    }
    return send_detail(conn, x, 503, "The server is shutting down");
}

/* First callback of a request: route, authenticate, check the declared length. */
static enum MHD_Result begin(struct MHD_Connection *conn, struct exchange *x, const char *url,
                             const char *method, const char *version)
{
    struct http_server *srv = x->srv;
    struct route_match m;
    const char *cl, *bad_framing;
    unsigned long long declared = 0;
    enum err rc;

    x->conn = conn;
    adopt_request_id(conn, x);
    watch_set(conn, 0); /* the head is in: from here on MHD's idle timeout and the body's rate */
    x->req.method = http_method_parse(method);
    x->req.path = arena_strdup(x->req.arena, url);
    if (!x->req.path)
        return send_error(conn, x, ERR_NOMEM);
    if (x->target_refused) {
        x->body_cap = BODY_OVERHEAD;
        return send_detail(conn, x, 414, "Request target too long or with too many parameters");
    }
    bad_framing = framing_error(conn, version);
    if (bad_framing) {
        /* where this body ends is in doubt: answer, then close rather than read on */
        x->body_cap = BODY_OVERHEAD;
        response_header(&x->res, MHD_HTTP_HEADER_CONNECTION, "close");
        return send_detail(conn, x, 400, bad_framing);
    }
    /* a CORS preflight from an allowed origin: answered here, for any path, without a
     * token (browsers send none); other OPTIONS requests are routed (404/405) */
    if (x->req.method == HTTP_OPTIONS && header_of(conn, "Access-Control-Request-Method") &&
        cors_allowed(srv->cors, header_of(conn, "Origin"))) {
        x->body_cap = BODY_OVERHEAD;
        x->res.status = 204;
        response_header(&x->res, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
        response_header(&x->res, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
        response_header(&x->res, "Access-Control-Max-Age", CORS_MAX_AGE);
        return send_response(conn, x);
    }
    router_match(srv->routes, srv->n_routes, x->req.method, url, x->req.arena, &m);
    if (!m.route) {
        x->body_cap = BODY_OVERHEAD;
        if (m.path_known) {
            response_header(&x->res, "Allow", arena_strdup(x->req.arena, m.allow));
            return send_detail(conn, x, 405, "Method Not Allowed");
        }
        return send_detail(conn, x, 404, "Not Found");
    }
    x->route = m.route;
    if (atomic_load(&srv->stopping)) /* no new work: answered at once, not waited for */
        return refuse_stopping(conn, x);
    memcpy(x->req.params, m.params, sizeof(m.params));
    x->body_cap = body_cap_of(srv, m.route->body);

    if (m.route->auth) {
        rc = authenticate(conn, x);
        if (rc != ERR_OK)
            return send_error(conn, x, rc);
    }

    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end == '\0' && n > x->body_cap)
            return send_error(conn, x, ERR_TOO_LARGE); /* refused before a byte is read */
        if (*end == '\0')
            declared = n;
    }
    /* a declared body is held against the budget before a byte is read */
    if (declared > 0 && !body_hold(x, declared))
        return send_error(conn, x, request_fail(&x->req, ERR_BUSY, BUSY_DETAIL));
    /* SPEC §14, before a byte of the body is read: the key's syntax, then the edit
     * count (a key already seen does no new work, so it is not counted) */
    if (m.route->guard & ROUTE_IDEMPOTENT) {
        rc = idempotency_start(
            &x->req, &x->idem,
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key"));
        if (rc != ERR_OK)
            return send_error(conn, x, rc);
    }
    if ((m.route->guard & ROUTE_RATE_LIMITED) && !idempotency_seen(&x->req, &x->idem)) {
        rc = ratelimit_edit(srv->app, x->req.user_id, time_now_ms(), &x->rate);
        if (rc != ERR_OK)
            return send_error(conn, x, rc);
    }
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, x);
    x->req.if_none_match =
        arena_strdup(x->req.arena, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                               MHD_HTTP_HEADER_IF_NONE_MATCH));
    x->req.range = arena_strdup(x->req.arena, header_of(conn, MHD_HTTP_HEADER_RANGE));
    x->req.if_range = arena_strdup(x->req.arena, header_of(conn, MHD_HTTP_HEADER_IF_RANGE));
    if (m.route->body == BODY_JSON) {
        x->req.content_type =
            arena_strdup(x->req.arena, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                   MHD_HTTP_HEADER_CONTENT_TYPE));
        x->raw = malloc(JSON_BODY_MAX + 1);
        if (!x->raw)
            return send_error(conn, x, ERR_NOMEM);
        idempotency_part(&x->idem, "", NULL); /* the fingerprint takes the body whole */
    } else if (m.route->body != BODY_NONE) {
        const char *ct =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        x->pp = MHD_create_post_processor(conn, POST_BUFFER, on_post_data, x);
        /* a form MHD will not parse (say, a one-byte boundary) is a malformed body; with
         * no form at all the handler finds its fields missing (422), as FastAPI does */
        if (!x->pp && ct && strncasecmp(ct, "multipart/", 10) == 0)
            x->body_malformed = true;
    }
    return MHD_YES;
}

/* The marker on_uri leaves as a request's context when its target is refused. */
static char target_refused;

/*
 * MHD's URI log callback: the raw request target, before MHD splits its arguments.
 * A target over TARGET_MAX bytes or with more than QUERY_ARGS_MAX arguments is
 * refused here, and its query cut off (in MHD's own buffer, where the target lies
 * writable) so MHD never parses it: libmicrohttpd 0.9.75 puts every argument in the
 * connection's pool and, when the pool runs out, queues a 431 it then forgets, leaving
 * the client waiting for the connection timeout. begin() answers the refusal.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    const char *q = strchr(uri, '?');
    size_t args = 0;

    (void)cls;
    (void)conn;
    for (const char *p = q; p; p = strchr(p + 1, '&'))
        args++;
    if (strlen(uri) <= TARGET_MAX && args <= QUERY_ARGS_MAX)
        return NULL;
    if (q)
        ((char *)q)[1] = '\0';
    return &target_refused;
}

static enum MHD_Result on_request_step(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    struct exchange *x = *con_cls;
    enum err rc;

    if (!x || x == (void *)&target_refused) {
        bool refused = x != NULL;
        x = exchange_new(cls);
        if (!x)
            return MHD_NO;
        x->target_refused = refused;
        *con_cls = x;
        return begin(conn, x, url, method, version);
    }
    if (x->queued) {
        *upload_data_size = 0; /* an early answer went out: drain what still comes */
        return MHD_YES;
    }
    if (atomic_load(&x->defer) != DEFER_NONE) /* resumed: the deferred answer is ready */
        return atomic_load(&x->defer) == DEFER_READY ? send_response(conn, x) : MHD_YES;
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        int64_t elapsed_ns = time_mono_ns() - x->req.start_ns;
        x->body_seen += n;
        if (x->body_seen > x->body_cap + DRAIN_ALLOWANCE)
            return MHD_NO; /* a body without end: stop reading and close */
        if (elapsed_ns > x->srv->timeout_ns &&
            (double)x->body_seen < (double)elapsed_ns / 1e9 * BODY_MIN_RATE) {
            log_info("req=%s %s: body trickling in (%llu bytes in %.0f s): closed", x->req.id,
                     x->req.path, (unsigned long long)x->body_seen, (double)elapsed_ns / 1e9);
            return MHD_NO; /* a trickled body: MHD cannot answer mid-upload, so close */
        }
        if (x->body_seen > x->body_cap)
            x->body_too_large = true; /* MHD cannot answer mid-upload: drain, then 413 */
        else if (x->body_busy || (x->body_seen > x->body_held &&
                                  !body_hold(x, x->body_seen - x->body_held)))
            x->body_busy = true; /* a chunked body past the budget: drain, then 503 */
        else if (x->raw) {
            memcpy(x->raw + x->body_seen - n, upload_data, n); /* body_seen <= cap: fits */
            idempotency_data(&x->idem, upload_data, n);
        } else if (x->pp && !x->body_malformed &&
                   MHD_post_process(x->pp, upload_data, n) != MHD_YES)
            x->body_malformed = true;
        *upload_data_size = 0;
        return MHD_YES;
    }

    /* the whole body has arrived */
    if (x->pp) {
        if (MHD_destroy_post_processor(x->pp) != MHD_YES)
            x->body_malformed = true;
        x->pp = NULL;
    }
    if (x->body_too_large)
        return send_error(conn, x, ERR_TOO_LARGE);
    if (x->body_busy)
        return send_error(conn, x, request_fail(&x->req, ERR_BUSY, BUSY_DETAIL));
    if (x->body_malformed)
        return send_detail(conn, x, 400, "There was an error parsing the body");
    if (x->raw && x->body_seen > 0) {
        x->raw[x->body_seen] = '\0';
        x->req.body = x->raw;
        x->req.body_len = (size_t)x->body_seen;
    }
    if (x->idem.key) { /* claimed before any work, or answered from the first time */
        bool replayed = false;
        rc = idempotency_claim(&x->req, &x->idem, x->route->pattern, &x->res, &replayed);
        if (rc != ERR_OK)
            return send_error(conn, x, rc);
        if (replayed)
            return send_response(conn, x);
    }
    x->conn = conn;
    rc = x->route->handler(&x->req, &x->res);
    if (rc != ERR_OK) {
        atomic_store(&x->defer, DEFER_NONE); /* failed before handing the work on */
        return send_error(conn, x, rc);
    }
    if (atomic_load(&x->defer) == DEFER_NONE)
        return send_response(conn, x);
    /* suspend first, then publish it: request_resume() may only resume a suspended
     * connection; if the work finished meanwhile, resume at once ourselves */
    MHD_suspend_connection(conn);
    {
        int expected = DEFER_RUNNING;
        if (!atomic_compare_exchange_strong(&x->defer, &expected, DEFER_SUSPENDED))
            MHD_resume_connection(conn);
    }
    return MHD_YES;
}

/* MHD's access handler: one step of a request, its log lines under its request id. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct exchange *x = *con_cls;
    enum MHD_Result r;

    if (x && x != (void *)&target_refused)
        log_set_request(x->req.id);
    r = on_request_step(cls, conn, url, method, version, upload_data, upload_data_size, con_cls);
    log_set_request(NULL);
    return r;
}

/* The access-log line and the request's metrics (SPEC §14): the route template, never
 * the path (it may hold a share token or an id); the user when authenticated. */
static void account(struct exchange *x, enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = x->srv;
    int64_t ns = time_mono_ns() - x->req.start_ns;
    /* no answer at all: the client went away first (nginx's 499) */
    int status = x->res.status ? x->res.status : 499;
    size_t route = x->route ? (size_t)(x->route - srv->routes) : srv->n_routes;

    metrics_http(route, (int)x->req.method, status, ns);
    if (!srv->access_log)
        return;
    {
        struct log_field f[8] = {
            {"method", http_method_name(x->req.method), 0},
            {"route", x->route ? x->route->pattern : "unmatched", 0},
            {"status", NULL, status},
            {"bytes", NULL, (double)(x->bytes > 0 ? x->bytes : 0)},
            {"ms", NULL, (double)(ns / 10000) / 100.0},
        };
        size_t n = 5;

        if (x->bytes < 0)
            f[3] = (struct log_field){"bytes", "streamed", 0};
        if (x->req.user_id[0])
            f[n++] = (struct log_field){"user", x->req.user_id, 0};
        if (!x->res.status)
            f[n++] = (struct log_field){"end", "client went away", 0};
        else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            f[n++] = (struct log_field){"end", "connection lost", 0};
        log_fields(LOG_INFO, "request", f, n);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct exchange *x = *con_cls;

    (void)cls;
    if (conn) /* the next request on this connection has HTTP_TIMEOUT to arrive */
        watch_set(conn, time_mono_ns() + ((struct http_server *)cls)->timeout_ns);
    if (!x || x == (void *)&target_refused) { /* no exchange was made */
        *con_cls = NULL;
        return;
    }
    log_set_request(x->req.id);
    account(x, toe);
    exchange_free(x);
    log_set_request(NULL);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    log_warn("http: %s", line);
}

/* ---- start and stop ------------------------------------------------------------ */

static int resolve(const char *host, long port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[16];
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%ld", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct watch *w = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = ci ? calloc(1, sizeof(*w)) : NULL;
        if (!w)
            return; /* unwatched: MHD's idle timeout still applies */
        w->fd = ci->connect_fd;
        atomic_init(&w->deadline_ns, time_mono_ns() + s->timeout_ns);
        pthread_mutex_lock(&s->watch_lock);
        w->next = s->watched;
        if (w->next)
            w->next->prev = w;
        s->watched = w;
        pthread_mutex_unlock(&s->watch_lock);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
        pthread_mutex_lock(&s->watch_lock);
        if (w->prev)
            w->prev->next = w->next;
        else
            s->watched = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&s->watch_lock);
        free(w);
        *socket_context = NULL;
    }
}

/* Shuts the sockets of connections past their head deadline, about every second. */
static void *watchdog_main(void *arg)
{
    struct http_server *s = arg;

    pthread_mutex_lock(&s->watch_lock);
    while (!s->watch_stop) {
        struct timespec until;
        int64_t now = time_mono_ns();
        unsigned cut = 0;

        for (struct watch *w = s->watched; w; w = w->next) {
            int64_t d = atomic_load(&w->deadline_ns);
            if (d != 0 && now > d) {
                shutdown(w->fd, SHUT_RDWR);
                atomic_store(&w->deadline_ns, 0);
                cut++;
            }
        }
        if (cut)
            log_info("http: closed %u connection(s) whose request head took over %llds", cut,
                     (long long)(s->timeout_ns / 1000000000));
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->watch_wake, &s->watch_lock, &until);
    }
    pthread_mutex_unlock(&s->watch_lock);
    return NULL;
}


enum err http_server_start(struct app *app, const struct route *routes, size_t n_routes,
                           struct http_server **out)
{
    const struct config *cfg = app->cfg;
    struct http_server *s = calloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    unsigned threads;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;

    if (!s)
        return ERR_NOMEM;
    s->app = app;
    s->routes = routes;
    s->n_routes = n_routes;
    s->access_log = strcmp(cfg->access_log, "on") == 0;
    {
        const char *templates[METRICS_ROUTES_MAX];
        size_t n = n_routes < METRICS_ROUTES_MAX ? n_routes : METRICS_ROUTES_MAX;

        for (size_t i = 0; i < n; i++)
            templates[i] = routes[i].pattern;
        metrics_routes(templates, n);
    }
    s->body_budget = (long long)cfg->http_body_budget;
    s->timeout_ns = (int64_t)cfg->http_timeout * 1000000000;
    pthread_mutex_init(&s->watch_lock, NULL);
    pthread_cond_init(&s->watch_wake, NULL);
    if (!id_random(&s->id_prefix, sizeof(s->id_prefix)))
        s->id_prefix = (unsigned)getpid();
    if (auth_cache_new(AUTH_CACHE_DEFAULT, &s->tokens) != ERR_OK)
        s->tokens = NULL; /* slower, not wrong */
    {
        const char *bad;
        size_t bad_len;
        if (cors_parse(cfg->cors_origins, &s->cors, &bad, &bad_len) != 0) { /* config checked it */
            log_error("http: CORS_ORIGINS cannot be read");
            auth_cache_free(s->tokens);
            free(s);
            return ERR_INVALID;
        }
    }
    if (resolve(cfg->host, cfg->port, &ss, &sslen) != 0) {
        log_error("http: cannot resolve HOST %s", cfg->host);
        http_server_free(s);
        return ERR_INVALID;
    }
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    threads = cfg->http_threads > 0 ? (unsigned)cfg->http_threads
                                    : 2u * (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->http_timeout, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->http_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->http_max_connections_per_ip, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)CONN_MEMORY_INCREMENT,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_END);
    if (!s->daemon) {
        log_error("http: cannot listen on %s:%ld (in use, or not an address here?)", cfg->host,
                  cfg->port);
        http_server_free(s);
        return ERR_UNAVAILABLE;
    }
    s->watchdog_started = pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0;
    if (!s->watchdog_started)
        log_warn("http: no watchdog thread: slow request heads are cut by idleness only");
    log_info("http: listening on %s:%ld with %u threads", cfg->host, cfg->port, threads);
    *out = s;
    return ERR_OK;
}

void http_server_quiesce(struct http_server *s, int grace_seconds)
{
    int64_t deadline;

    if (!s)
        return;
    /* answers from now on close their connection, and requests that begin from now on
     * are answered 503 (/health: "shutting down", so a load balancer takes this server
     * out while it still listens). Not MHD_quiesce_daemon(): on an epoll daemon with its own threads it races
     * with the workers over the listen socket and can abort the process (an open
     * libmicrohttpd defect: "Failed to remove listen FD from epoll set"). */
    atomic_store(&s->stopping, true);
    deadline = time_mono_ns() + (int64_t)grace_seconds * 1000000000;
    /* done when nothing has been in flight for 100 ms: a request may still be arriving on
     * a kept-alive connection the moment the count first touches zero */
    for (int quiet = 0; quiet < 5 && time_mono_ns() < deadline;) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        quiet = atomic_load(&s->in_flight) > 0 ? 0 : quiet + 1;
    }
    if (atomic_load(&s->in_flight) > 0)
        log_warn("http: stopping with %ld requests still in flight", atomic_load(&s->in_flight));
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    if (s->watchdog_started) {
        pthread_mutex_lock(&s->watch_lock);
        s->watch_stop = true;
        pthread_cond_signal(&s->watch_wake);
        pthread_mutex_unlock(&s->watch_lock);
        pthread_join(s->watchdog, NULL);
    }
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* closes what is left: each leaves the watch list */
    pthread_mutex_destroy(&s->watch_lock);
    pthread_cond_destroy(&s->watch_wake);
    auth_cache_free(s->tokens);
    cors_free(s->cors);
    free(s);
}
