/*
 * router.c - matches a request path against the route table, segment by segment.
 * Pure; thread-safe.
 */
#include "router.h"

#include <string.h>

enum http_method http_method_parse(const char *s)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                        "OPTIONS"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0)
            return (enum http_method)i;
    return HTTP_OTHER;
}

const char *http_method_name(enum http_method m)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                        "OPTIONS", "OTHER"};
    return (unsigned)m <= HTTP_OTHER ? names[m] : "OTHER";
}

/* Length of the segment starting at s (up to '/' or the end). */
static size_t seglen(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash ? (size_t)(slash - s) : strlen(s);
}

static bool match_path(const char *pattern, const char *path, struct arena *a,
                       const char *params[REQUEST_MAX_PARAMS])
{
    size_t np = 0;
    const char *p = pattern, *u = path;

    if (*p != '/' || *u != '/')
        return false;
    while (*p == '/' && *u == '/') {
        size_t pl, ul;
        p++;
        u++;
        pl = seglen(p);
        ul = seglen(u);
        if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
            bool rest = pl >= 3 && p[pl - 2] == '*';
            if (np >= REQUEST_MAX_PARAMS)
                return false;
            if (rest) {
                size_t n = strlen(u);
                if (n == 0)
                    return false;
                params[np++] = arena_strndup(a, u, n);
                return p[pl] == '\0';
            }
            if (ul == 0)
                return false;
            params[np++] = arena_strndup(a, u, ul);
        } else if (pl != ul || memcmp(p, u, pl) != 0) {
            return false;
        }
        p += pl;
        u += ul;
    }
    return *p == '\0' && *u == '\0';
}

/* Appends a method to the Allow list unless it is there (or the list is full). */
static void allow_add(struct route_match *out, size_t *used, const char *name)
{
    size_t k = strlen(name);

    if (strstr(out->allow, name))
        return;
    if (*used + k + 3 >= sizeof(out->allow))
        return;
    if (*used) {
        memcpy(out->allow + *used, ", ", 2);
        *used += 2;
    }
    memcpy(out->allow + *used, name, k + 1);
    *used += k;
}

void router_match(const struct route *routes, size_t n, enum http_method method,
                  const char *path, struct arena *a, struct route_match *out)
{
    enum http_method want = method == HTTP_HEAD ? HTTP_GET : method;
    size_t used = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *params[REQUEST_MAX_PARAMS] = {0};
        if (!match_path(routes[i].pattern, path, a, params))
            continue;
        if (routes[i].method == want && !out->route) {
            out->route = &routes[i];
            memcpy(out->params, params, sizeof(params));
        }
        allow_add(out, &used, http_method_name(routes[i].method));
        if (routes[i].method == HTTP_GET) /* every GET route answers HEAD too */
            allow_add(out, &used, "HEAD");
        out->path_known = true;
    }
}
