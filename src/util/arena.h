/*
 * arena.h - a region allocator for per-request memory.
 *
 * Everything allocated from an arena is released at once by arena_free(); there
 * is no per-object free. Not thread-safe: one arena belongs to one request (or
 * one command), which is served by one thread at a time.
 */
#pragma once

#include <stddef.h>

struct arena;

/* Returns a new, empty arena, or NULL when out of memory. */
struct arena *arena_new(void);

/* Releases the arena and everything allocated from it. Accepts NULL. */
void arena_free(struct arena *a);

/* Zeroed memory, aligned for any type; NULL when out of memory or n is absurd. */
void *arena_alloc(struct arena *a, size_t n);

/* Copies of strings. NULL in gives NULL out. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
