/*
 * grow.h - the one growth policy for heap blocks that fill up as they are written: the
 * growable string, the JSON writer, and arrays appended to one element at a time.
 * Pure apart from realloc; thread-safe.
 */
#pragma once

#include <stddef.h>

/* Makes room for need elements of size bytes in p, which holds *cap (0: p is NULL):
 * the capacity starts at first and doubles until it holds need; a capacity over
 * limit / size is not doubled further (the block is refused). Returns the block (p
 * itself when it was large enough) and updates *cap, or returns NULL, leaving p and *cap
 * as they were, when memory runs out or the limit is passed. */
void *grow(void *p, size_t *cap, size_t need, size_t size, size_t first, size_t limit);
