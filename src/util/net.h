/*
 * net.h - process-wide initialisation of the HTTP client library (libcurl).
 *
 * Call net_global_init() from main() before any thread starts, and
 * net_global_cleanup() after the last one ends. The one client
 * (util/httpc.c) also calls net_global_init() when it opens,
 * so tests need no extra step; it runs the library's init exactly once.
 */
#pragma once

#include <stdbool.h>

/* True if the library is ready. Idempotent and safe from any thread. */
bool net_global_init(void);

/* Releases the library's global state. Only after every client is closed. */
void net_global_cleanup(void);
