/*
 * gzip.h - gzip for JSON answers (server.c): whether a client's Accept-Encoding
 * takes gzip, and the compression itself. Pure; thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Bodies at most this long are sent as they are. */
#define GZIP_MIN_BYTES 1024

/*
 * True if an Accept-Encoding value (NULL: none) accepts gzip (RFC 9110 §12.5.3):
 * "gzip", "x-gzip" or "*" with a q-value above 0, an explicit gzip;q=0 winning over
 * "*". Names compare case-insensitively; a malformed q counts as 0.
 */
bool gzip_accepted(const char *accept_encoding);

/*
 * Compresses n bytes into a new malloc'd gzip member (*out, *out_len; the caller
 * frees it). Returns false (nothing written) when out of memory or when the result
 * would not be smaller than the input.
 */
bool gzip_compress(const void *in, size_t n, char **out, size_t *out_len);
