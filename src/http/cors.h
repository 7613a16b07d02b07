/*
 * cors.h - Cross-Origin Resource Sharing per CORS_ORIGINS (SPEC §14): which request
 * origins may read our answers, and the headers a preflight and an answer carry.
 *
 * Pure (no I/O, no HTTP library). A struct cors is built once from the setting and
 * then only read, so it is shared by every thread. The caller owns it (cors_free).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A preflight's answer headers (the values are fixed; the origin is echoed). */
#define CORS_ALLOW_METHODS "GET, HEAD, POST, DELETE, OPTIONS"
#define CORS_ALLOW_HEADERS                                                                  \
    "Authorization, Content-Type, Idempotency-Key, X-Request-Id, If-None-Match, If-Range, " \
    "Range, Accept, Accept-Language, Content-Language"
#define CORS_MAX_AGE "7200" /* seconds; browsers cap it (Chromium at 2 hours) */
#define CORS_EXPOSE_HEADERS                                                                   \
    "ETag, Retry-After, X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, " \
    "Idempotent-Replayed, Location, Content-Disposition, Content-Range, Accept-Ranges"

/* The longest origin we compare or echo (scheme://host:port; DNS names are ≤ 253). */
#define CORS_ORIGIN_MAX 300

struct cors;

/*
 * True if s (n bytes) is an origin as a browser serialises it: scheme "://" host
 * [":" port], scheme [A-Za-z][A-Za-z0-9+.-]*, host a DNS name or IPv4 address
 * ([A-Za-z0-9.-], no empty label) or a bracketed IPv6 literal, port 1-65535 without
 * leading zeros, no path, no user info, at most CORS_ORIGIN_MAX bytes. "null" and
 * "file://" are not origins we can allow.
 */
bool cors_origin_valid(const char *s, size_t n);

/*
 * Parses CORS_ORIGINS: NULL or "" (no origin allowed: *out = NULL), "*" (every
 * valid origin), or origins separated by commas (spaces around them ignored). Returns 0 and sets *out (NULL when nothing is
 * allowed), or -1 for a malformed list, with *bad pointing at the offending entry
 * inside spec and *bad_len its length (for the config error).
 */
int cors_parse(const char *spec, struct cors **out, const char **bad, size_t *bad_len);

/* True if answers to origin (a request's Origin header, any bytes) may carry CORS
 * headers. False for a NULL policy, a NULL origin and anything not cors_origin_valid.
 * Origins compare ASCII case-insensitively. */
bool cors_allowed(const struct cors *c, const char *origin);

/* True when some origins are allowed (answers then vary by Origin). */
bool cors_enabled(const struct cors *c);

void cors_free(struct cors *c);
