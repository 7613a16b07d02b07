/*
 * grow.c - doubling growth of a heap block (see grow.h).
 */
#include "util/grow.h"

#include <stdlib.h>

void *grow(void *p, size_t *cap, size_t need, size_t size, size_t first, size_t limit)
{
    size_t c = *cap ? *cap : first;
    void *grown;

    if (need <= *cap)
        return p;
    while (c < need) {
        if (c > limit / size)
            return NULL;
        c *= 2;
    }
    grown = realloc(p, c * size);
    if (!grown)
        return NULL;
    *cap = c;
    return grown;
}
