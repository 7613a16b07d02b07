/*
 * httpc.c - the client thread: new requests arrive on a locked list and a
 * curl_multi_wakeup(); delayed ones wait in a list sorted by start time; started
 * ones are easy handles in one multi handle, which keeps connections alive and
 * reuses them (and multiplexes over HTTP/2 where the server speaks it).
 * curl_multi_poll() sleeps until a socket is ready, the next delayed request is
 * due, or a submit wakes it. A retried call's job goes back to the delayed list
 * after a retryable answer, so its caller hears only the last one.
 */
#include "util/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/id.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timefmt.h"

#define DEFAULT_TIMEOUT_MS 60000L
#define DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 10000L
#define IDLE_POLL_MS 1000
#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_S 30

struct job {
    struct job *next;
    CURL *easy;
    struct curl_slist *headers;
    char *method, *url;
    char *service;    /* for retry logs */
    const void *body; /* borrowed */
    size_t body_len;
    long timeout_ms, connect_timeout_ms;
    int64_t start_at_ns;
    int64_t started_ns;
    int attempts; /* at most, 1 or more */
    int sent;     /* attempts started so far */
    httpc_done_fn done;
    void *arg;
    struct httpc_response *res; /* filled as the answer arrives */
    struct buf answer;          /* the answer's body so far, at most max_response */
    char request_id[LOG_REQUEST_ID_MAX + 1]; /* the submitter's: logs and the callback */
};

struct httpc {
    pthread_t thread;
    bool thread_started;
    CURLM *multi;
    pthread_mutex_t mu;
    struct job *incoming;   /* under mu, newest first */
    bool closing;           /* under mu */
    struct job *delayed;    /* loop thread only: sorted by start_at_ns */
    struct job *running;    /* loop thread only: in the multi handle */
};

/* ---- jobs -------------------------------------------------------------------- */

static void job_free(struct job *j)
{
    if (!j)
        return;
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->headers);
    free(j->method);
    free(j->url);
    free(j->service);
    buf_free(&j->answer);
    httpc_response_free(j->res);
    free(j);
}

/* Hands the response to the caller and frees the job. */
static void job_finish(struct job *j, enum err transport)
{
    struct httpc_response *res = j->res;

    j->res = NULL;
    res->body = j->answer.p; /* the response takes the bytes */
    res->body_len = j->answer.len;
    j->answer.p = NULL;
    res->transport = transport;
    res->too_big = transport == ERR_UPSTREAM && j->answer.too_big;
    if (transport != ERR_OK)
        res->status = 0;
    res->seconds = (double)(time_mono_ns() - j->started_ns) / 1e9;
    res->attempts = j->sent;
    log_set_request(j->request_id);
    j->done(j->arg, res);
    log_set_request(NULL);
    job_free(j);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct job *j = userp;
    size_t n = size * nmemb;

    return buf_add(&j->answer, data, n) ? n : 0; /* 0 aborts the transfer */
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct job *j = userp;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";

    if (n > sizeof(name) - 1 && n < 256 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t len = n - (sizeof(name) - 1);
        while (len > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
            len--;
        free(j->res->retry_after);
        j->res->retry_after = strndup(v, len);
    }
    return n;
}

static enum err job_start(struct httpc *c, struct job *j)
{
    CURL *e = curl_easy_init();
    bool ok;

    j->sent++; /* a start that fails counts: it ends as ERR_UPSTREAM, which is retried */
    if (!e)
        return ERR_NOMEM;
    j->easy = e;
    j->started_ns = time_mono_ns();
    ok = curl_easy_setopt(e, CURLOPT_URL, j->url) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_PRIVATE, j) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, j->timeout_ms) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                          j->timeout_ms < j->connect_timeout_ms
                              ? j->timeout_ms
                              : j->connect_timeout_ms) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_WRITEDATA, j) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_HEADERDATA, j) == CURLE_OK &&
         curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers) == CURLE_OK;
    if (ok && strcmp(j->method, "HEAD") == 0) {
        ok = curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK;
    } else if (ok && strcmp(j->method, "DELETE") == 0) {
        ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method) == CURLE_OK;
    } else if (ok && strcmp(j->method, "GET") != 0) {
        ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len) ==
                 CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body ? j->body : "") == CURLE_OK;
    }
    if (!ok || curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return ERR_INTERNAL;
    j->next = c->running;
    c->running = j;
    return ERR_OK;
}

static void running_remove(struct httpc *c, struct job *j)
{
    for (struct job **p = &c->running; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            break;
        }
    }
    curl_multi_remove_handle(c->multi, j->easy);
}

/* ---- the loop ------------------------------------------------------------------ */

static void delayed_insert(struct httpc *c, struct job *j)
{
    struct job **p = &c->delayed;

    while (*p && (*p)->start_at_ns <= j->start_at_ns)
        p = &(*p)->next;
    j->next = *p;
    *p = j;
}

/* Ready for another attempt: no transfer, no answer yet. */
static void job_reset(struct job *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    j->easy = NULL;
    buf_free(&j->answer); /* keeps max */
    free(j->res->retry_after);
    j->res->retry_after = NULL;
    j->res->status = 0;
}

/*
 * An attempt of j (no longer running) ended with transport: the job goes back to the
 * delayed list for another attempt if the answer is retryable and it has attempts left,
 * else the caller gets the answer and the job is freed.
 */
static void job_end(struct httpc *c, struct job *j, enum err transport)
{
    struct httpc_response *res = j->res;
    long wait;

    log_set_request(j->request_id); /* this loop's log lines are the request's */
    res->transport = transport;
    if (transport != ERR_OK)
        res->status = 0;
    if (j->sent >= j->attempts || !httpc_retryable(res)) {
        job_finish(j, transport);
        return;
    }
    wait = httpc_backoff_ms(j->sent, res->retry_after);
    if (transport == ERR_OK)
        log_info("%s: attempt %d of %d failed (HTTP %ld), retrying in %ld ms", j->service,
                 j->sent, j->attempts, res->status, wait);
    else
        log_info("%s: attempt %d of %d failed (%s), retrying in %ld ms", j->service, j->sent,
                 j->attempts, err_name(transport), wait);
    job_reset(j);
    j->start_at_ns = time_mono_ns() + (int64_t)wait * 1000000;
    delayed_insert(c, j);
}

static void fail_list(struct job *j, enum err why)
{
    while (j) {
        struct job *next = j->next;
        job_finish(j, why);
        j = next;
    }
}

static void collect_done(struct httpc *c)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(c->multi, &left))) {
        struct job *j = NULL;
        enum err transport = ERR_OK;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        log_set_request(j->request_id);
        if (m->data.result == CURLE_OK) {
            curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->res->status);
        } else if (m->data.result == CURLE_OPERATION_TIMEDOUT) {
            transport = ERR_TIMEOUT;
        } else {
            transport = ERR_UPSTREAM;
            /* never the URL: it may carry credentials */
            log_debug("httpc: %s failed: %s%s", j->method, curl_easy_strerror(m->data.result),
                      j->answer.too_big ? " (answer too large)" : "");
        }
        running_remove(c, j);
        job_end(c, j, transport);
    }
}

static void *loop(void *arg)
{
    struct httpc *c = arg;

    for (;;) {
        struct job *in, *next;
        bool closing;
        int64_t now;
        int wait_ms = IDLE_POLL_MS, still;

        pthread_mutex_lock(&c->mu);
        in = c->incoming;
        c->incoming = NULL;
        closing = c->closing;
        pthread_mutex_unlock(&c->mu);

        for (; in; in = next) {
            next = in->next;
            delayed_insert(c, in);
        }
        if (closing)
            break;
        now = time_mono_ns();
        while (c->delayed && c->delayed->start_at_ns <= now) {
            struct job *j = c->delayed;
            c->delayed = j->next;
            log_set_request(j->request_id);
            if (job_start(c, j) != ERR_OK) {
                log_error("%s: cannot start a %s transfer", j->service, j->method);
                job_end(c, j, ERR_UPSTREAM);
            }
        }
        curl_multi_perform(c->multi, &still);
        collect_done(c);
        if (c->delayed) {
            int64_t due_ms = (c->delayed->start_at_ns - time_mono_ns()) / 1000000 + 1;
            if (due_ms < wait_ms)
                wait_ms = due_ms < 0 ? 0 : (int)due_ms;
        }
        log_set_request(NULL);
        curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
    }

    /* closing: everything still here is answered, never dropped */
    while (c->running) {
        struct job *j = c->running;
        running_remove(c, j);
        job_finish(j, ERR_UNAVAILABLE);
    }
    fail_list(c->delayed, ERR_UNAVAILABLE);
    c->delayed = NULL;
    return NULL;
}

/* ---- public ---------------------------------------------------------------------- */

enum err httpc_submit(struct httpc *c, struct httpc_request *req, long delay_ms,
                      httpc_done_fn done, void *arg)
{
    struct job *j = calloc(1, sizeof(*j));
    enum err rc = ERR_NOMEM;

    if (!j)
        return ERR_NOMEM;
    j->body = req->body;
    j->body_len = req->body_len;
    j->method = strdup(req->method ? req->method : "GET");
    j->url = req->url ? strdup(req->url) : NULL;
    j->service = strdup(req->service ? req->service : "httpc");
    j->attempts = req->attempts > 1 ? req->attempts : 1;
    j->res = calloc(1, sizeof(*j->res));
    j->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    j->connect_timeout_ms =
        req->connect_timeout_ms > 0 ? req->connect_timeout_ms : CONNECT_TIMEOUT_MS;
    j->answer.max = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE;
    j->done = done;
    j->arg = arg;
    snprintf(j->request_id, sizeof(j->request_id), "%s", log_request());
    if (!j->method || !j->url || !j->service || !j->res)
        goto fail;
    for (size_t i = 0; i < HTTPC_MAX_HEADERS && req->headers[i]; i++) {
        struct curl_slist *h = curl_slist_append(j->headers, req->headers[i]);
        if (!h)
            goto fail;
        j->headers = h;
    }
    { /* libcurl would otherwise wait for 100-continue before a large body */
        struct curl_slist *h = curl_slist_append(j->headers, "Expect:");
        if (!h)
            goto fail;
        j->headers = h;
    }
    j->started_ns = time_mono_ns(); /* until it starts: a failure's duration is honest */
    j->start_at_ns = j->started_ns + (int64_t)(delay_ms > 0 ? delay_ms : 0) * 1000000;

    pthread_mutex_lock(&c->mu);
    if (c->closing) {
        pthread_mutex_unlock(&c->mu);
        rc = ERR_UNAVAILABLE;
        goto fail;
    }
    j->next = c->incoming;
    c->incoming = j;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    return ERR_OK;
fail:
    job_free(j);
    return rc;
}

bool httpc_retryable(const struct httpc_response *res)
{
    if (res->transport == ERR_UPSTREAM)
        return true;
    return res->transport == ERR_OK && (res->status == 429 || res->status == 500 ||
                                        res->status == 503 || res->status == 504);
}

long httpc_backoff_ms(int attempt, const char *retry_after)
{
    long ms = BACKOFF_BASE_MS;
    unsigned long r = 0;
    char *end;

    if (retry_after) {
        long s = strtol(retry_after, &end, 10);
        if (end != retry_after && *end == '\0' && s >= 0 && s <= RETRY_AFTER_MAX_S)
            return s * 1000;
    }
    for (int i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    if (!id_random(&r, sizeof(r)))
        r = 0;
    return ms + (long)(r % (unsigned long)(ms + 1));
}

enum err httpc_failure(const struct httpc_response *res, const char *service, const char *code,
                       char *why, size_t cap)
{
    bool has_code = code && code[0];

    if (res->transport == ERR_TIMEOUT) {
        snprintf(why, cap, "%s timed out", service);
        return ERR_TIMEOUT;
    }
    if (res->transport != ERR_OK) {
        snprintf(why, cap, "%s did not answer", service);
        return res->transport == ERR_UNAVAILABLE ? ERR_UNAVAILABLE : ERR_UPSTREAM;
    }
    snprintf(why, cap, "%s %s (HTTP %ld%s%s)", service,
             res->status == 429 ? "is busy, try again shortly" : "failed", res->status,
             has_code ? " " : "", has_code ? code : "");
    if (res->status == 504)
        return ERR_TIMEOUT;
    return res->status == 429 ? ERR_BUSY : ERR_UPSTREAM;
}

void httpc_response_free(struct httpc_response *res)
{
    if (!res)
        return;
    free(res->body);
    free(res->retry_after);
    free(res);
}

enum err httpc_open(long max_connections, struct httpc **out)
{
    struct httpc *c;

    if (!net_global_init())
        return ERR_INTERNAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return ERR_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->multi = curl_multi_init();
    if (!c->multi)
        goto fail;
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    if (max_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections);
    if (pthread_create(&c->thread, NULL, loop, c) != 0)
        goto fail;
    c->thread_started = true;
    pthread_setname_np(c->thread, "httpc");
    *out = c;
    return ERR_OK;
fail:
    httpc_close(c);
    return ERR_INTERNAL;
}

void httpc_shutdown(struct httpc *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_mutex_unlock(&c->mu);
    if (c->thread_started) {
        curl_multi_wakeup(c->multi);
        pthread_join(c->thread, NULL);
        c->thread_started = false;
    }
}

void httpc_close(struct httpc *c)
{
    if (!c)
        return;
    httpc_shutdown(c);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
