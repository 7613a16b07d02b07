/*
 * test_body_cache.c - the kept bodies of conditional GETs: a body comes back byte for
 * byte for its (user, query, tag) and for no other triple, weak tags are never kept,
 * the byte bound holds, and a zero bound is no cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_cache.h"
#include "check.h"

static const char ua[] = "550e8400-e29b-41d4-a716-446655440001";
static const char ub[] = "550e8400-e29b-41d4-a716-446655440002";

static void test_keyed(void)
{
    struct body_cache *c = NULL;
    char *body = NULL;
    size_t len = 0;
    const char page[] = "{\"success\":true,\"data\":[],\"count\":0}";

    CHECK(body_cache_new(1 << 20, &c) == ERR_OK && c);
    CHECK(!body_cache_get(c, ua, "gallery 1 20", "\"00ff\"", &body, &len));
    body_cache_put(c, ua, "gallery 1 20", "\"00ff\"", page, strlen(page));
    CHECK(body_cache_get(c, ua, "gallery 1 20", "\"00ff\"", &body, &len));
    CHECK(len == strlen(page) && body && memcmp(body, page, len) == 0 && body[len] == '\0');
    free(body);
    body = NULL;
    CHECK_EQ_INT(body_cache_bytes(c), strlen(page));
    /* another user, query or tag: nothing (the same tag text included) */
    CHECK(!body_cache_get(c, ub, "gallery 1 20", "\"00ff\"", &body, &len));
    CHECK(!body_cache_get(c, ua, "gallery 2 20", "\"00ff\"", &body, &len));
    CHECK(!body_cache_get(c, ua, "gallery 1 20", "\"00fe\"", &body, &len));
    /* the strings do not run together: ("ab", "c") is not ("a", "bc") */
    body_cache_put(c, "ab", "c", "\"1\"", "x", 1);
    CHECK(!body_cache_get(c, "a", "bc", "\"1\"", &body, &len));
    /* a weak tag is never kept */
    body_cache_put(c, ua, "drawing d", "W/\"0001\"", page, strlen(page));
    CHECK(!body_cache_get(c, ua, "drawing d", "W/\"0001\"", &body, &len));
    CHECK(body == NULL);
    body_cache_free(c);
}

static void test_bounds(void)
{
    struct body_cache *c = NULL;
    char *big = calloc(1, BODY_CACHE_MAX_BODY + 1), *body = NULL;
    char tag[32];
    size_t len = 0;

    CHECK(big != NULL);
    CHECK(body_cache_new(0, &c) == ERR_OK && c == NULL); /* 0: no cache */
    body_cache_put(NULL, ua, "q", "\"1\"", "x", 1);
    CHECK(!body_cache_get(NULL, ua, "q", "\"1\"", &body, &len));
    body_cache_free(NULL);
    CHECK(body_cache_new(1 << 16, NULL) == ERR_INVALID);

    /* a body past BODY_CACHE_MAX_BODY is not kept */
    CHECK(body_cache_new(64u << 20, &c) == ERR_OK);
    body_cache_put(c, ua, "q", "\"1\"", big, BODY_CACHE_MAX_BODY + 1);
    CHECK(!body_cache_get(c, ua, "q", "\"1\"", &body, &len));
    body_cache_free(c);

    /* 64 KiB in all: 100 bodies of 4 KiB keep at most 16 */
    CHECK(body_cache_new(64 * 1024, &c) == ERR_OK);
    for (int i = 0; i < 100; i++) {
        snprintf(tag, sizeof(tag), "\"%d\"", i);
        body_cache_put(c, ua, "q", tag, big, 4096);
        CHECK(body_cache_bytes(c) <= 64 * 1024);
    }
    CHECK(body_cache_bytes(c) == 16 * 4096);
    body_cache_free(c);
    free(big);
}

int main(void)
{
    test_keyed();
    test_bounds();
    return check_summary("body_cache");
}
