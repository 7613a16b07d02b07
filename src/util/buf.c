/*
 * buf.c - the growable string: doubling growth from 256 bytes, a NUL kept after
 * the bytes, the limit checked before any copy.
 */
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

bool buf_add(struct buf *b, const void *data, size_t n)
{
    char *grown;

    if (b->failed)
        return false;
    if (b->max && (b->len > b->max || n > b->max - b->len)) {
        b->failed = b->too_big = true;
        return false;
    }
    if (n > (size_t)-1 / 2 - b->len) {
        b->failed = true;
        return false;
    }
    grown = grow(b->p, &b->cap, b->len + n + 1, 1, 256, (size_t)-1 / 2);
    if (!grown) {
        b->failed = true;
        return false;
    }
    b->p = grown;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool buf_str(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

char *buf_take(struct buf *b)
{
    char *p = b->failed ? NULL : b->p;

    if (b->failed)
        free(b->p);
    else if (!p)
        p = strdup(""); /* nothing was ever appended */
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = b->too_big = false;
    return p;
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = b->too_big = false;
}
