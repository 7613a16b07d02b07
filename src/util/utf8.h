/*
 * utf8.h - strict UTF-8 decoding (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF), for checking untrusted text. Pure, thread-safe.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The length of the sequence at s (n > 0 bytes left) with its code point in *cp,
 * or 0 if it is not valid UTF-8. */
size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Code points in s (n bytes) if it is valid UTF-8 without NUL, else -1. */
long long utf8_count(const unsigned char *s, size_t n);
