/*
 * router.h - the route table's shape and path matching.
 *
 * A pattern is a path whose segments are literals, "{name}" (one segment), or a
 * final "{name*}" (the rest of the path, at least one segment). Routes are tried in
 * table order, so literal routes go before parameterised ones
 * ("/api/drawings/stats/summary" before "/api/drawings/{id}"). Pure; thread-safe.
 */
#pragma once

#include <stdbool.h>

#include "http/request.h"

typedef enum err (*route_handler)(struct request *req, struct response *res);

/* What a route's body may hold, which sets its byte cap (server.c). */
enum route_body {
    BODY_NONE,        /* no body expected */
    BODY_IMAGE,       /* multipart: one image and small fields */
    BODY_IMAGE_AUDIO, /* multipart: an image, an audio file and small fields */
    BODY_AUDIO,       /* multipart: an audio file and small fields */
    BODY_JSON,        /* a JSON document of at most 64 KiB (request_json_body) */
};

struct route {
    enum http_method method;
    const char *pattern;
    route_handler handler;
    bool auth;             /* needs a bearer token */
    enum route_body body;
    bool secret_path;      /* its path holds a capability (a share token): logged as its pattern */
    unsigned guard;        /* ROUTE_* below: what the server checks before the handler runs */
};

/* route.guard (SPEC §14) */
#define ROUTE_RATE_LIMITED 1u /* an edit: counts against RATE_LIMIT_EDITS (ratelimit.h) */
#define ROUTE_IDEMPOTENT 2u   /* takes an Idempotency-Key (idempotency.h) */

struct route_match {
    const struct route *route;        /* NULL: no route for this method */
    const char *params[REQUEST_MAX_PARAMS];
    bool path_known;                  /* some route has this path (405 vs 404) */
    char allow[64];                   /* methods allowed on the path, for 405 */
};

/* Matches method and path against the table; params are copied into the arena. */
void router_match(const struct route *routes, size_t n, enum http_method method,
                  const char *path, struct arena *a, struct route_match *out);

/* "GET" -> HTTP_GET, ...; HTTP_OTHER for anything else. */
enum http_method http_method_parse(const char *s);
const char *http_method_name(enum http_method m);
