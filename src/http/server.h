/*
 * server.h - the HTTP server: libmicrohttpd with its epoll thread pool and
 * suspend/resume, the route table, streaming multipart parsing with byte caps,
 * authentication of /api/ routes, one log line per request, graceful shutdown.
 *
 * server.c is the only file that includes microhttpd.h. The server borrows the
 * app and the route table; both must outlive it.
 */
#pragma once

#include <stddef.h>

#include "app.h"
#include "http/router.h"

struct http_server;

/* Binds HOST:PORT and starts serving. Logs the reason on failure. */
enum err http_server_start(struct app *app, const struct route *routes, size_t n_routes,
                           struct http_server **out);

/*
 * Stops accepting connections and waits up to grace_seconds for requests in flight
 * to finish; answers sent from now on close their connection. Accepts NULL.
 */
void http_server_quiesce(struct http_server *s, int grace_seconds);

/* Stops the threads (closing connections left) and frees the server. Accepts NULL.
 * Deferred answers must all have been resumed first (edits_close does). */
void http_server_free(struct http_server *s);
