/*
 * httpc.h - an asynchronous HTTP client: one thread drives libcurl's multi
 * interface for every outgoing request of the process, so thousands of calls
 * to a slow remote service wait on sockets, not on threads.
 *
 * A caller hands over a request with httpc_submit() and gets its result in a
 * callback, later, on the client's thread. Callbacks must be quick (queue the
 * real work elsewhere, e.g. on a pool): every other transfer waits while one
 * runs. A request may be delayed (for retry back-off) without holding anything
 * but its queue node. A request with attempts > 1 is a retried call: on a
 * retryable answer (httpc_retryable) the client itself sends it again after
 * httpc_backoff_ms(), and the callback sees only the last answer.
 *
 * httpc.c is the only file that drives libcurl's multi interface; it owns the
 * easy handles. Ownership: httpc_submit() copies the method, URL, headers and
 * service name; the body is borrowed and must stay valid until the callback runs
 * (so a retry sends the same bytes without a copy); the response handed to the callback is
 * the callback's to keep and free with httpc_response_free(). Thread-safe:
 * submit from any thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define HTTPC_MAX_HEADERS 12

struct httpc;

struct httpc_request {
    const char *method;                     /* "GET", "POST", "PUT", "DELETE", "HEAD"; copied */
    const char *url;                        /* copied */
    const char *headers[HTTPC_MAX_HEADERS]; /* "Name: value", copied; NULL-terminated */
    const void *body;                       /* borrowed until done runs; NULL = empty. Sent
                                             * (with Content-Length, even 0) by every method
                                             * but GET, HEAD and DELETE, which send none */
    size_t body_len;
    long timeout_ms;         /* whole transfer; 0 = 60 s */
    long connect_timeout_ms; /* 0 = 10 s (never above timeout_ms) */
    size_t max_response;     /* bigger answers fail as ERR_UPSTREAM with
                              * too_big set; 0 = 64 MiB */
    int attempts;            /* sends at most: after a retryable answer (httpc_retryable)
                              * the client waits httpc_backoff_ms() (Retry-After honoured)
                              * and sends the same request again; 0 or 1 = once. Every
                              * attempt has its own timeout_ms */
    const char *service;     /* names the call in retry logs ("gemini"); copied; NULL = "httpc" */
};

struct httpc_response {
    enum err transport; /* ERR_OK (an HTTP answer arrived), ERR_TIMEOUT, ERR_UPSTREAM (refused,
                         * reset, malformed, too big), ERR_UNAVAILABLE (the client is closing) */
    long status;        /* HTTP status when transport is ERR_OK, else 0 */
    char *body;         /* malloc'd, NUL-terminated; may be NULL when empty */
    size_t body_len;
    bool too_big;      /* transport ERR_UPSTREAM because the answer outgrew max_response */
    char *retry_after; /* the Retry-After header's value, or NULL */
    double seconds;    /* time from start of the last attempt's transfer to completion */
    int attempts;      /* attempts started, the last one included (0: none could start) */
};

typedef void (*httpc_done_fn)(void *arg, struct httpc_response *res);

/* Starts the client's thread. max_connections caps connections per host (0: no cap). */
enum err httpc_open(long max_connections, struct httpc **out);

/*
 * Queues req, to start after delay_ms (0: now), and to be sent again up to req->attempts
 * in all. done(arg, res) is called exactly once, on the client's thread, with the last
 * attempt's response, which the callback owns — also when the client closes before the
 * transfer ends (transport ERR_UNAVAILABLE). Returns ERR_NOMEM, or ERR_UNAVAILABLE when
 * the client is closing, without calling done. After ERR_OK, arg belongs to done: done
 * may already have run (and freed it) before httpc_submit() returns.
 */
enum err httpc_submit(struct httpc *c, struct httpc_request *req, long delay_ms, httpc_done_fn done,
                      void *arg);

void httpc_response_free(struct httpc_response *res); /* accepts NULL */

/* The retry policy every remote client shares: true for a lost or refused connection
 * and for 429, 500, 503 and 504 (not for a timeout: waiting again doubles the wait). */
bool httpc_retryable(const struct httpc_response *res);

/* The wait before retry number attempt (1-based): 250 ms doubling up to 8 s, plus full
 * jitter; or the server's Retry-After when it names a wait of at most 30 s. */
long httpc_backoff_ms(int attempt, const char *retry_after);

/*
 * What a final answer that is not the success the caller wanted means, for a service
 * the user knows by name (e.g. "The AI service"): returns ERR_TIMEOUT for a timeout or
 * HTTP 504, ERR_BUSY for 429, ERR_UNAVAILABLE when the client closed, else ERR_UPSTREAM;
 * and writes a client-safe sentence into why (cap bytes, truncated to fit, always
 * NUL-terminated): "<service> timed out", "<service> did not answer", "<service> is
 * busy, try again shortly (HTTP 429 <code>)" or "<service> failed (HTTP <status> <code>)".
 * code (the service's own error word, may be NULL or "") is borrowed; cap > 0. Pure.
 */
enum err httpc_failure(const struct httpc_response *res, const char *service, const char *code,
                       char *why, size_t cap);

/* Fails every transfer still in flight or waiting (their callbacks run, with
 * ERR_UNAVAILABLE) and stops the thread; later submits get ERR_UNAVAILABLE. The
 * client stays valid until httpc_close(). Idempotent. */
void httpc_shutdown(struct httpc *c);

/* httpc_shutdown(), then frees the client. Accepts NULL. */
void httpc_close(struct httpc *c);
