/*
 * test_router.c - http/router.c: path patterns, parameters, 404 vs 405 and Allow,
 * method names, on a table of its own and on the real route table, with hostile
 * paths (what MHD hands over: already percent-decoded, NUL-terminated).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "handlers/handlers.h"
#include "http/router.h"

static enum err h(struct request *req, struct response *res)
{
    (void)req;
    (void)res;
    return ERR_OK;
}

static const struct route rt[] = {
    {HTTP_GET, "/health", h, false, BODY_NONE},
    {HTTP_GET, "/api/drawings/gallery", h, true, BODY_NONE},
    {HTTP_GET, "/api/drawings/stats/summary", h, true, BODY_NONE},
    {HTTP_POST, "/api/drawings", h, true, BODY_IMAGE},
    {HTTP_POST, "/api/drawings/{drawing_id}/edits", h, true, BODY_AUDIO},
    {HTTP_GET, "/api/drawings/{drawing_id}", h, true, BODY_NONE},
    {HTTP_DELETE, "/api/drawings/{drawing_id}", h, true, BODY_NONE},
    {HTTP_GET, "/a/{x}/b/{y}", h, false, BODY_NONE},
    {HTTP_GET, "/media/{key*}", h, false, BODY_NONE},
    {HTTP_GET, "/p/{a}/{b}/{c}/{d}/{e}", h, false, BODY_NONE}, /* more than REQUEST_MAX_PARAMS */
    {HTTP_GET, "/rest/{all*}/tail", h, false, BODY_NONE},      /* "*" only at the end */
};
#define N_RT (sizeof(rt) / sizeof(rt[0]))

static struct route_match m;

static void match(struct arena *a, enum http_method method, const char *path)
{
    /* dirty the output first: router_match must set every field */
    memset(&m, 0xa5, sizeof(m));
    router_match(rt, N_RT, method, path, a, &m);
}

/* A route answers: the route found is rt[want]. */
#define CHECK_ROUTE(a, method, path, want)                                                         \
    do {                                                                                           \
        match(a, method, path);                                                                    \
        CHECK(m.route == &rt[want]);                                                               \
        CHECK(m.path_known);                                                                       \
    } while (0)

/* No route, no method: 404. */
#define CHECK_404(a, method, path)                                                                 \
    do {                                                                                           \
        match(a, method, path);                                                                    \
        CHECK(m.route == NULL);                                                                    \
        CHECK(!m.path_known);                                                                      \
    } while (0)

/* The path is known but not for this method: 405 with this Allow. */
#define CHECK_405(a, method, path, want_allow)                                                     \
    do {                                                                                           \
        match(a, method, path);                                                                    \
        CHECK(m.route == NULL);                                                                    \
        CHECK(m.path_known);                                                                       \
        CHECK_EQ_STR(m.allow, want_allow);                                                         \
    } while (0)

static void test_methods(void)
{
    CHECK_EQ_INT(http_method_parse("GET"), HTTP_GET);
    CHECK_EQ_INT(http_method_parse("HEAD"), HTTP_HEAD);
    CHECK_EQ_INT(http_method_parse("POST"), HTTP_POST);
    CHECK_EQ_INT(http_method_parse("PUT"), HTTP_PUT);
    CHECK_EQ_INT(http_method_parse("PATCH"), HTTP_PATCH);
    CHECK_EQ_INT(http_method_parse("DELETE"), HTTP_DELETE);
    CHECK_EQ_INT(http_method_parse("OPTIONS"), HTTP_OPTIONS);
    /* methods are case-sensitive (RFC 9110 §9.1) */
    CHECK_EQ_INT(http_method_parse("get"), HTTP_OTHER);
    CHECK_EQ_INT(http_method_parse("GET "), HTTP_OTHER);
    CHECK_EQ_INT(http_method_parse(""), HTTP_OTHER);
    CHECK_EQ_INT(http_method_parse("BREW"), HTTP_OTHER);
    CHECK_EQ_INT(http_method_parse("GETX"), HTTP_OTHER);
    CHECK_EQ_STR(http_method_name(HTTP_GET), "GET");
    CHECK_EQ_STR(http_method_name(HTTP_DELETE), "DELETE");
    CHECK_EQ_STR(http_method_name(HTTP_OPTIONS), "OPTIONS");
    CHECK_EQ_STR(http_method_name(HTTP_OTHER), "OTHER");
    CHECK_EQ_STR(http_method_name((enum http_method)99), "OTHER");
    CHECK_EQ_STR(http_method_name((enum http_method) - 1), "OTHER");
}

static void test_literals_and_params(struct arena *a)
{
    CHECK_ROUTE(a, HTTP_GET, "/health", 0);
    CHECK(m.params[0] == NULL);
    /* literal routes win over the parameter in table order */
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/gallery", 1);
    CHECK(m.params[0] == NULL);
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/stats/summary", 2);
    /* one segment of a literal route's path is the parameter route */
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/stats", 5);
    CHECK_EQ_STR(m.params[0], "stats");
    CHECK(m.params[1] == NULL);

    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/550e8400-e29b-41d4-a716-446655440000", 5);
    CHECK_EQ_STR(m.params[0], "550e8400-e29b-41d4-a716-446655440000");
    CHECK_ROUTE(a, HTTP_DELETE, "/api/drawings/x", 6);
    CHECK_EQ_STR(m.params[0], "x");
    CHECK_ROUTE(a, HTTP_POST, "/api/drawings/abc/edits", 4);
    CHECK_EQ_STR(m.params[0], "abc");
    CHECK_ROUTE(a, HTTP_POST, "/api/drawings", 3);

    /* parameters in pattern order */
    CHECK_ROUTE(a, HTTP_GET, "/a/one/b/two", 7);
    CHECK_EQ_STR(m.params[0], "one");
    CHECK_EQ_STR(m.params[1], "two");
    CHECK(m.params[2] == NULL);
    CHECK_404(a, HTTP_GET, "/a/one/c/two");
    CHECK_404(a, HTTP_GET, "/a/one/b");
    CHECK_404(a, HTTP_GET, "/a/one/b/");
    CHECK_404(a, HTTP_GET, "/a//b/two");

    /* a parameter is taken as it is: the router neither decodes nor judges it */
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/..", 5);
    CHECK_EQ_STR(m.params[0], "..");
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/a%2Fb", 5);
    CHECK_EQ_STR(m.params[0], "a%2Fb");
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/%00", 5);
    CHECK_EQ_STR(m.params[0], "%00");
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/\xff\xfe", 5); /* not UTF-8: request_uuid's job */
    CHECK_EQ_STR(m.params[0], "\xff\xfe");
    CHECK_ROUTE(a, HTTP_GET, "/api/drawings/ spaced ", 5);
    CHECK_EQ_STR(m.params[0], " spaced ");
    /* a decoded %2F is a slash: two segments, not one parameter */
    CHECK_404(a, HTTP_GET, "/api/drawings/a/b");
    CHECK_405(a, HTTP_GET, "/api/drawings/a/edits", "POST");
}

static void test_hostile_paths(struct arena *a)
{
    char *huge;
    size_t n = 1 << 20;

    CHECK_404(a, HTTP_GET, "");
    CHECK_404(a, HTTP_GET, "/");
    CHECK_404(a, HTTP_GET, "//");
    CHECK_404(a, HTTP_GET, "health");          /* no leading slash */
    CHECK_404(a, HTTP_GET, "*");               /* OPTIONS * style */
    CHECK_404(a, HTTP_GET, "http://x/health"); /* absolute form is MHD's to reduce */
    CHECK_404(a, HTTP_GET, "/health/");        /* trailing slash: another path */
    CHECK_404(a, HTTP_GET, "//health");
    CHECK_404(a, HTTP_GET, "/health//");
    CHECK_404(a, HTTP_GET, "/Health"); /* case-sensitive */
    CHECK_404(a, HTTP_GET, "/healthz");
    CHECK_404(a, HTTP_GET, "/healt");
    CHECK_404(a, HTTP_GET, "/health/x");
    CHECK_404(a, HTTP_GET, "/api/drawings/"); /* an empty parameter is no parameter */
    CHECK_404(a, HTTP_GET, "/api/drawings//");
    CHECK_404(a, HTTP_GET, "/api/drawings/x/"); /* trailing slash after a parameter */
    CHECK_404(a, HTTP_GET, "/api/drawings/x/y/z");
    CHECK_404(a, HTTP_GET, "/api//drawings/x");
    CHECK_404(a, HTTP_GET, "/api/drawings/./x");
    CHECK_404(a, HTTP_GET, "/api/../health"); /* no dot-segment resolution here */
    CHECK_404(a, HTTP_GET, "/health\r\nX: y");

    /* a megabyte-long segment, and a megabyte of segments */
    huge = malloc(n + 32);
    CHECK(huge != NULL);
    if (!huge)
        return;
    strcpy(huge, "/api/drawings/");
    memset(huge + 14, 'a', n);
    huge[14 + n] = '\0';
    CHECK_ROUTE(a, HTTP_GET, huge, 5);
    CHECK(m.params[0] && strlen(m.params[0]) == n);
    memset(huge + 14, '/', n); /* "/api/drawings////…" */
    CHECK_404(a, HTTP_GET, huge);
    for (size_t i = 0; i < n; i += 2) {
        huge[i] = '/';
        huge[i + 1] = 'x';
    }
    huge[n] = '\0';
    CHECK_404(a, HTTP_GET, huge);
    free(huge);
}

static void test_rest_param(struct arena *a)
{
    CHECK_ROUTE(a, HTTP_GET, "/media/users/u/original/k.png", 8);
    CHECK_EQ_STR(m.params[0], "users/u/original/k.png");
    CHECK_ROUTE(a, HTTP_GET, "/media/k", 8);
    CHECK_EQ_STR(m.params[0], "k");
    /* the rest is taken verbatim, dot segments and empty segments included: the
     * media handler validates keys (storage_key_valid) */
    CHECK_ROUTE(a, HTTP_GET, "/media/../../etc/passwd", 8);
    CHECK_EQ_STR(m.params[0], "../../etc/passwd");
    CHECK_ROUTE(a, HTTP_GET, "/media/a//b/", 8);
    CHECK_EQ_STR(m.params[0], "a//b/");
    CHECK_ROUTE(a, HTTP_GET, "/media//", 8);
    CHECK_EQ_STR(m.params[0], "/");
    /* at least one character */
    CHECK_404(a, HTTP_GET, "/media/");
    CHECK_404(a, HTTP_GET, "/media");
    CHECK_405(a, HTTP_PUT, "/media/k", "GET, HEAD");
    /* a "*" parameter is only a rest at the pattern's end */
    CHECK_404(a, HTTP_GET, "/rest/a/tail");
    CHECK_404(a, HTTP_GET, "/rest/a/b/tail");
}

static void test_too_many_params(struct arena *a)
{
    /* a pattern with more parameters than REQUEST_MAX_PARAMS never matches (rather
     * than writing past params[]) */
    CHECK_404(a, HTTP_GET, "/p/1/2/3/4/5");
}

static void test_404_vs_405(struct arena *a)
{
    CHECK_405(a, HTTP_POST, "/health", "GET, HEAD");
    CHECK_405(a, HTTP_DELETE, "/health", "GET, HEAD");
    CHECK_405(a, HTTP_OTHER, "/health", "GET, HEAD");
    CHECK_405(a, HTTP_OPTIONS, "/health", "GET, HEAD");
    CHECK_405(a, HTTP_GET, "/api/drawings", "POST");
    /* every method of the path, each once, in table order */
    CHECK_405(a, HTTP_PATCH, "/api/drawings/x", "GET, HEAD, DELETE");
    CHECK_405(a, HTTP_POST, "/api/drawings/x", "GET, HEAD, DELETE");
    /* the literal route's path also matches the parameter route's pattern: for
     * DELETE, "gallery" is a drawing_id (as in FastAPI, where routes are tried in order) */
    match(a, HTTP_DELETE, "/api/drawings/gallery");
    CHECK(m.route == &rt[6]);
    CHECK_EQ_STR(m.params[0], "gallery");
    CHECK_405(a, HTTP_PUT, "/api/drawings/gallery", "GET, HEAD, DELETE");
    CHECK_405(a, HTTP_PUT, "/api/drawings/stats/summary", "GET, HEAD");

    /* HEAD is answered by the GET route */
    CHECK_ROUTE(a, HTTP_HEAD, "/health", 0);
    CHECK_ROUTE(a, HTTP_HEAD, "/api/drawings/x", 5);
    CHECK_EQ_STR(m.params[0], "x");
    CHECK_405(a, HTTP_HEAD, "/api/drawings", "POST");
    /* a path no route has is 404 whatever the method */
    CHECK_404(a, HTTP_OTHER, "/nope");
    CHECK_404(a, HTTP_DELETE, "/nope");
}

static void test_real_table(struct arena *a)
{
    struct route_match r;

    router_match(routes, n_routes, HTTP_GET, "/api/drawings/stats/summary", a, &r);
    CHECK(r.route && r.route->handler == handle_stats && r.route->auth);
    router_match(routes, n_routes, HTTP_GET, "/api/drawings/gallery", a, &r);
    CHECK(r.route && r.route->handler == handle_gallery);
    router_match(routes, n_routes, HTTP_GET, "/api/drawings/abc", a, &r);
    CHECK(r.route && r.route->handler == handle_drawing_get);
    CHECK_EQ_STR(r.params[0], "abc");
    router_match(routes, n_routes, HTTP_POST, "/api/drawings/abc/edits", a, &r);
    CHECK(r.route && r.route->handler == handle_drawing_edit);
    CHECK_EQ_STR(r.params[0], "abc");
    router_match(routes, n_routes, HTTP_GET, "/health", a, &r);
    CHECK(r.route && r.route->handler == handle_health && !r.route->auth);
    router_match(routes, n_routes, HTTP_GET, "/media/users/x/original/y.png", a, &r);
    CHECK(r.route && r.route->handler == handle_media && !r.route->auth);
    CHECK_EQ_STR(r.params[0], "users/x/original/y.png");
    router_match(routes, n_routes, HTTP_PATCH, "/api/drawings/abc", a, &r);
    CHECK(!r.route && r.path_known);
    CHECK_EQ_STR(r.allow, "GET, HEAD, DELETE");
    router_match(routes, n_routes, HTTP_GET, "/api/drawings", a, &r);
    CHECK(!r.route && r.path_known);
    CHECK_EQ_STR(r.allow, "POST");
    router_match(routes, n_routes, HTTP_GET, "/api/drawings/a/b/c", a, &r);
    CHECK(!r.route && !r.path_known);
    router_match(routes, n_routes, HTTP_GET, "/api/tutorials/extra", a, &r);
    CHECK(!r.route && !r.path_known);
    /* every route of the table is reachable: no earlier pattern shadows it */
    for (size_t i = 0; i < n_routes; i++) {
        char path[256];
        const char *p = routes[i].pattern;
        size_t k = 0;

        while (*p && k < sizeof(path) - 8) {
            if (*p == '{') {
                const char *end = strchr(p, '}');
                memcpy(path + k, "zz9", 3);
                k += 3;
                p = end ? end + 1 : p + strlen(p);
            } else {
                path[k++] = *p++;
            }
        }
        path[k] = '\0';
        router_match(routes, n_routes, routes[i].method, path, a, &r);
        CHECK(r.route == &routes[i]);
        if (r.route != &routes[i])
            fprintf(stderr, "  route %zu (%s %s) is shadowed for %s\n", i,
                    http_method_name(routes[i].method), routes[i].pattern, path);
    }
}

int main(void)
{
    struct arena *a = arena_new();

    CHECK(a != NULL);
    if (!a)
        return 1;
    test_methods();
    test_literals_and_params(a);
    test_hostile_paths(a);
    test_rest_param(a);
    test_too_many_params(a);
    test_404_vs_405(a);
    test_real_table(a);
    arena_free(a);
    return check_summary("router");
}
