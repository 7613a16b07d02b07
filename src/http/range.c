/*
 * range.c - parsing a single byte range (RFC 9110 §14.1.2). Anything we do not
 * serve as one range is answered in full, as the RFC lets a server do. Pure.
 */
#include "http/range.h"

#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

/* Decimal digits into *out (no sign, no overflow); advances *p. */
static bool digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static const char *skip_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

enum range_result range_parse(const char *header, uint64_t size, uint64_t *first, uint64_t *last)
{
    const char *p;
    uint64_t f = 0, l = 0;
    bool suffix = false, open_end = false;

    if (!header)
        return RANGE_FULL;
    p = skip_blank(header);
    if (strncasecmp(p, "bytes", 5) != 0)
        return RANGE_FULL;
    p = skip_blank(p + 5);
    if (*p != '=')
        return RANGE_FULL;
    p = skip_blank(p + 1);
    if (*p == '-') {
        suffix = true;
        p++;
        if (!digits(&p, &l))
            return RANGE_FULL;
    } else {
        if (!digits(&p, &f) || *p != '-')
            return RANGE_FULL;
        p++;
        if (isdigit((unsigned char)*p)) {
            if (!digits(&p, &l) || l < f)
                return RANGE_FULL; /* last before first: invalid, so ignored */
        } else {
            open_end = true;
        }
    }
    p = skip_blank(p);
    if (*p != '\0')
        return RANGE_FULL; /* several ranges (or junk): the whole body */
    if (suffix) {
        if (l == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *first = l >= size ? 0 : size - l;
        *last = size - 1;
        return RANGE_PARTIAL;
    }
    if (f >= size)
        return RANGE_UNSATISFIABLE;
    *first = f;
    *last = open_end || l >= size ? size - 1 : l;
    return RANGE_PARTIAL;
}
