/*
 * header.h - HTTP header lines built from settings (an API key, a bearer token): checked
 * for control characters before use, and, as they may hold a secret, wiped when freed.
 * Pure apart from malloc; thread-safe.
 */
#pragma once

#include <stdbool.h>

/* True if s holds no control character (below 0x20, or DEL): safe inside a header. */
bool header_value_ok(const char *s);

/* A malloc'd "name: value" line: prefix (e.g. "Authorization: Bearer ") then value; NULL
 * if memory ran out. Release it with header_free(). */
char *header_line(const char *prefix, const char *value);

/* Overwrites line with zeros, then frees it. NULL is a no-op. */
void header_free(char *line);
