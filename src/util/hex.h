/*
 * hex.h - bytes as hexadecimal digits, and back. Pure and thread-safe.
 */
#pragma once

#include <stddef.h>

/* Writes in's n bytes as 2n lowercase hex digits plus a NUL into out (size 2n+1). */
void hex_encode(const void *in, size_t n, char *out);

/* The value of hex digit c (either case), or -1 if c is not one. */
int hex_value(char c);
