/*
 * cors.c - the CORS policy: origin syntax, the CORS_ORIGINS list, the allowed
 * check. Pure; a parsed policy is read-only and thread-safe.
 */
#include "http/cors.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cors {
    bool any;       /* "*" */
    size_t n;       /* listed origins */
    char **origins; /* each NUL-terminated, as configured */
};

static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.';
}

static bool valid_host(const char *h, size_t n)
{
    if (n == 0)
        return false;
    if (h[0] == '[') { /* an IPv6 literal: hex digits, colons, dots (v4-mapped) */
        if (n < 4 || h[n - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return false;
        return true;
    }
    if (h[0] == '.' || h[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!host_char(h[i]))
            return false;
        if (h[i] == '.' && h[i + 1] == '.')
            return false;
    }
    return true;
}

static bool valid_port(const char *p, size_t n)
{
    long v = 0;

    if (n == 0 || n > 5 || p[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

bool cors_origin_valid(const char *s, size_t n)
{
    size_t i = 0, host, colon;

    if (!s || n == 0 || n > CORS_ORIGIN_MAX || !isalpha((unsigned char)s[0]))
        return false;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (n - i < 3 || memcmp(s + i, "://", 3) != 0)
        return false;
    host = i + 3;
    /* the port's colon: the last ':' after a closing bracket, or the only one */
    colon = n;
    for (size_t k = n; k > host; k--) {
        if (s[k - 1] == ']')
            break;
        if (s[k - 1] == ':') {
            colon = k - 1;
            break;
        }
    }
    if (!valid_host(s + host, colon - host))
        return false;
    return colon == n || valid_port(s + colon + 1, n - colon - 1);
}

void cors_free(struct cors *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->origins[i]);
    free(c->origins);
    free(c);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

int cors_parse(const char *spec, struct cors **out, const char **bad, size_t *bad_len)
{
    struct cors *c = NULL;
    const char *p = spec;

    *out = NULL;
    *bad = spec; /* out of memory: the whole setting */
    *bad_len = 0;
    if (!spec)
        return 0;
    while (blank(*p))
        p++;
    if (*p == '\0')
        return 0;
    c = calloc(1, sizeof(*c));
    if (!c)
        goto fail;
    for (;;) { /* each entry, up to a comma or the end: an empty one is an error */
        const char *end = strchr(p, ',');
        size_t n;
        if (!end)
            end = p + strlen(p);
        while (p < end && blank(*p))
            p++;
        n = (size_t)(end - p);
        while (n > 0 && blank(p[n - 1]))
            n--;
        if (n == 1 && p[0] == '*') {
            c->any = true;
        } else if (!cors_origin_valid(p, n)) {
            *bad = p;
            *bad_len = n;
            goto fail;
        } else {
            char **grown = realloc(c->origins, (c->n + 1) * sizeof(*grown));
            if (!grown)
                goto fail;
            c->origins = grown;
            c->origins[c->n] = strndup(p, n);
            if (!c->origins[c->n])
                goto fail;
            c->n++;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    *out = c;
    return 0;
fail:
    cors_free(c);
    return -1;
}

bool cors_enabled(const struct cors *c)
{
    return c && (c->any || c->n > 0);
}

bool cors_allowed(const struct cors *c, const char *origin)
{
    size_t n;

    if (!c || !origin)
        return false;
    n = strnlen(origin, CORS_ORIGIN_MAX + 1);
    if (!cors_origin_valid(origin, n))
        return false;
    if (c->any)
        return true;
    for (size_t i = 0; i < c->n; i++)
        if (strcasecmp(c->origins[i], origin) == 0)
            return true;
    return false;
}
