/*
 * fuzz_query.c - query strings as the handlers read them: the input up to its first
 * newline is a raw query string, split and percent-decoded as libmicrohttpd does ('+'
 * is a space), then read by the gallery's argument parser (page, limit, tutorial_id,
 * from, to, q, edited, sort: handlers_gallery_args) and the other query readers; the
 * rest is an If-None-Match header matched against a tag. Any 422 list is rendered.
 */
#include "db/db.h"
#include "fuzz.h"
#include "handlers/handlers.h"
#include "http/request.h"
#include "util/hex.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* in place, as MHD_http_unescape (plus '+' as a space, as its argument parser does) */
static void unescape(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (*s == '+') {
            *o++ = ' ';
        } else if (*s == '%' && hex_value(s[1]) >= 0 && hex_value(s[2]) >= 0) {
            *o++ = (char)(hex_value(s[1]) * 16 + hex_value(s[2]));
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const choices[] = {"a", "bb", "ccc"};
    struct kv args[MAX_ARGS];
    struct request req = {0};
    struct response res = {.fd = -1};
    struct gallery_filter f;
    char tutorial[ID_UUID_LEN];
    int64_t page, limit, n;
    size_t choice;
    int b;
    const char *text;
    char *s = fuzz_strndup(data, size), *nl, *p, *amp;

    req.arena = arena_new();
    if (!s || !req.arena)
        goto out;
    nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        req.if_none_match = nl + 1;
    }
    for (p = s; p && *p && req.n_query < MAX_ARGS; p = amp ? amp + 1 : NULL) {
        char *eq;
        amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        unescape(p);
        if (eq)
            unescape(eq + 1);
        args[req.n_query].key = p;
        args[req.n_query++].value = eq ? eq + 1 : "";
    }
    req.query = args;
    if (handlers_gallery_args(&req, &page, &limit, &f, tutorial) == ERR_OK &&
        (page < 1 || limit < 1 || limit > 100 || f.from_ms > GALLERY_TIME_MAX))
        abort();
    request_query_int(&req, "n", 0, INT64_MIN, INT64_MAX, &n);
    request_query_bool(&req, "b", &b);
    request_query_choice(&req, "c", choices, 3, 0, &choice);
    request_query_text(&req, "t", 0, 5, &text);
    request_etag_matches(&req, "\"v1-abc\"", true);
    request_etag_matches(&req, "W/\"v2\"", false);
    response_error(&req, &res, req.error_list ? ERR_VALIDATION : ERR_NOT_FOUND);
    if (res.status != 422 && req.error_list)
        abort(); /* every 422 list must be answered whole */
out:
    json_decref(req.error_list);
    free(res.body);
    arena_free(req.arena);
    free(s);
    return 0;
}
