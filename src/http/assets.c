/*
 * assets.c - lookup in the generated table of embedded files (assets.h). Pure;
 * thread-safe.
 */
#include "http/assets.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int by_path(const void *key, const void *elem)
{
    return strcmp(key, ((const struct asset *)elem)->path);
}

const struct asset *assets_find(const char *path)
{
    if (!path)
        return NULL;
    return bsearch(path, assets_table, assets_count, sizeof(assets_table[0]), by_path);
}

/* The q value of one coding's parameters ("; q=0.5"), 1 when absent. */
static double q_of(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
            return strtod(p + 2, NULL);
        while (p < end && *p != ';')
            p++;
    }
    return 1;
}

bool assets_accepts_gzip(const char *h)
{
    const char *p = h;

    while (p && *p) {
        const char *end = strchr(p, ',');
        const char *name_end;
        size_t n;

        if (!end)
            end = p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        name_end = p;
        while (name_end < end && *name_end != ';' && *name_end != ' ' && *name_end != '\t')
            name_end++;
        n = (size_t)(name_end - p);
        if ((n == 4 && strncasecmp(p, "gzip", 4) == 0) ||
            (n == 6 && strncasecmp(p, "x-gzip", 6) == 0) || (n == 1 && *p == '*'))
            return q_of(name_end, end) > 0;
        p = *end ? end + 1 : end;
    }
    return false;
}
