/*
 * gzip.c - content-coding negotiation and gzip compression with zlib (the only
 * includer of zlib.h). Pure; thread-safe.
 */
#include "http/gzip.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* The q-value of one Accept-Encoding member's parameters (s points after the name,
 * e: its end), 1000ths; 1000 when absent, 0 when malformed. */
static int qvalue(const char *s, const char *e)
{
    while (s < e) {
        int q = 0, scale = 1000;
        while (s < e && (*s == ' ' || *s == '\t' || *s == ';'))
            s++;
        if (e - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
            s += 2;
            if (s < e && (*s == '0' || *s == '1')) {
                q = (*s - '0') * 1000;
                s++;
                if (s < e && *s == '.') {
                    s++;
                    for (int i = 0; i < 3 && s < e && *s >= '0' && *s <= '9'; i++, s++) {
                        scale /= 10;
                        q += (*s - '0') * scale;
                    }
                }
                while (s < e && (*s == ' ' || *s == '\t'))
                    s++;
                if (s != e && *s != ';')
                    return 0;
                return q > 1000 ? 0 : q;
            }
            return 0;
        }
        while (s < e && *s != ';') /* another parameter: skip it */
            s++;
    }
    return 1000;
}

bool gzip_accepted(const char *accept_encoding)
{
    const char *p = accept_encoding;
    int gzip_q = -1, star_q = -1;

    if (!p)
        return false;
    while (*p) {
        const char *end = strchr(p, ',');
        const char *name, *name_end;
        size_t n;
        if (!end)
            end = p + strlen(p);
        name = p;
        while (name < end && (*name == ' ' || *name == '\t'))
            name++;
        name_end = name;
        while (name_end < end && *name_end != ';' && *name_end != ' ' && *name_end != '\t')
            name_end++;
        n = (size_t)(name_end - name);
        if ((n == 4 && strncasecmp(name, "gzip", 4) == 0) ||
            (n == 6 && strncasecmp(name, "x-gzip", 6) == 0))
            gzip_q = qvalue(name_end, end);
        else if (n == 1 && *name == '*')
            star_q = qvalue(name_end, end);
        p = *end ? end + 1 : end;
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}

bool gzip_compress(const void *in, size_t n, char **out, size_t *out_len)
{
    z_stream z;
    uLong cap;
    char *buf;
    bool ok = false;

    if (n > UINT_MAX / 2)
        return false;
    memset(&z, 0, sizeof(z));
    /* 15 + 16: a gzip wrapper; level 6, zlib's default balance */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    cap = deflateBound(&z, (uLong)n);
    buf = malloc(cap);
    if (!buf)
        goto out;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END || z.total_out >= n)
        goto out;
    *out = buf;
    *out_len = z.total_out;
    buf = NULL;
    ok = true;
out:
    deflateEnd(&z);
    free(buf);
    return ok;
}
