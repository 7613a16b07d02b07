/*
 * buf.h - a growable byte string with an optional size limit: HTTP answers as
 * they arrive, canonical requests, generated grammars.
 *
 * The bytes are always followed by a NUL (once anything was appended), so a
 * text can be used as a C string. An append that would pass max, or that finds
 * no memory, puts the buffer in a failed state where later appends do nothing;
 * the caller checks once at the end.
 *
 * Ownership: the buffer owns p until buf_take() hands it over; buf_free() releases
 * it. Not thread-safe: one buffer, one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *p;       /* NUL-terminated, or NULL while empty */
    size_t len, cap;
    size_t max;    /* most bytes it may hold; 0: no limit */
    bool failed;   /* no memory, or over max */
    bool too_big;  /* failed because of max */
};

/* Appends n bytes. False (and failed) on no memory or past max. */
bool buf_add(struct buf *b, const void *data, size_t n);
bool buf_str(struct buf *b, const char *s);

/* Hands the text over: "" if nothing was appended, NULL if the buffer failed (or no
 * memory). The buffer is empty afterwards, with its max kept. */
char *buf_take(struct buf *b);

/* Releases the bytes; the buffer is empty afterwards, with its max kept. */
void buf_free(struct buf *b);
