/*
 * http_harness.h - the real HTTP server (http/server.c over libmicrohttpd) on a
 * loopback port, with a route table of test handlers that read their requests with
 * the handlers' own parsers (multipart fields, JSON bodies, query arguments, path
 * UUIDs, bearer tokens) but touch no database or storage. fuzz_http.c and
 * fuzz_multipart.c send it bytes over a socket.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Starts the server once (config defaults, a free port, two threads). Aborts on failure. */
void http_harness_start(void);

/* Sends size bytes on a new connection, half-closes it, reads every answer until the
 * server closes. Aborts if an answer does not start like an HTTP/1.1 response or
 * carries an HTML error page. */
void http_harness_exchange(const uint8_t *data, size_t size);
