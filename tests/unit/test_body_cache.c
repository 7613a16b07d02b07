/*
 * test_body_cache.c - the kept bodies of conditional GETs: a body comes back byte for
 * byte for its (user, query, version, tag) and for no other, weak tags are never
 * kept, the byte bound holds (under concurrent puts too), full caches make room for
 * new bodies, and a zero bound is no cache.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_cache.h"
#include "check.h"

static const char ua[] = "550e8400-e29b-41d4-a716-446655440001";
static const char ub[] = "550e8400-e29b-41d4-a716-446655440002";

static struct body_key key(const char *user, const char *what, const char *etag, int64_t version)
{
    return (struct body_key){.user_id = user, .what = what, .etag = etag, .version = version};
}

static bool has(struct body_cache *c, struct body_key k)
{
    char *body = NULL;
    size_t len = 0;
    bool hit = body_cache_get(c, &k, &body, &len);

    free(body);
    return hit;
}

static void test_keyed(void)
{
    struct body_cache *c = NULL;
    char *body = NULL;
    size_t len = 0;
    const char page[] = "{\"success\":true,\"data\":[],\"count\":0}";
    struct body_key k = key(ua, "gallery 1 20", "\"00ff\"", 7);

    CHECK(body_cache_new(1 << 20, &c) == ERR_OK && c);
    CHECK(!has(c, k));
    body_cache_put(c, &k, page, strlen(page));
    CHECK(body_cache_get(c, &k, &body, &len));
    CHECK(len == strlen(page) && body && memcmp(body, page, len) == 0 && body[len] == '\0');
    free(body);
    CHECK_EQ_INT(body_cache_bytes(c), strlen(page));
    /* another user, query, tag or version: nothing */
    CHECK(!has(c, key(ub, "gallery 1 20", "\"00ff\"", 7)));
    CHECK(!has(c, key(ua, "gallery 2 20", "\"00ff\"", 7)));
    CHECK(!has(c, key(ua, "gallery 1 20", "\"00fe\"", 7)));
    CHECK(!has(c, key(ua, "gallery 1 20", "\"00ff\"", 8)));
    /* the strings do not run together: ("ab", "c") is not ("a", "bc") */
    k = key("ab", "c", "\"1\"", 1);
    body_cache_put(c, &k, "x", 1);
    CHECK(has(c, k));
    CHECK(!has(c, key("a", "bc", "\"1\"", 1)));
    CHECK(!has(c, key("ab", "c\"1\"", "", 1)));
    /* a weak tag is never kept */
    k = key(ua, "drawing d", "W/\"0001\"", 1);
    body_cache_put(c, &k, page, strlen(page));
    CHECK(!has(c, k));
    body_cache_free(c);
}

static void test_bounds(void)
{
    struct body_cache *c = NULL;
    char *big = calloc(1, BODY_CACHE_MAX_BODY + 1);
    char tag[32];
    struct body_key k = key(ua, "q", "\"1\"", 1);

    CHECK(big != NULL);
    CHECK(body_cache_new(0, &c) == ERR_OK && c == NULL); /* 0: no cache */
    body_cache_put(NULL, &k, "x", 1);
    CHECK(!has(NULL, k));
    body_cache_free(NULL);
    CHECK(body_cache_new(1 << 16, NULL) == ERR_INVALID);

    /* a body past BODY_CACHE_MAX_BODY, or past the whole bound, is not kept */
    CHECK(body_cache_new(64u << 20, &c) == ERR_OK);
    body_cache_put(c, &k, big, BODY_CACHE_MAX_BODY + 1);
    CHECK(!has(c, k));
    body_cache_free(c);
    CHECK(body_cache_new(1000, &c) == ERR_OK);
    body_cache_put(c, &k, big, 1001);
    CHECK(!has(c, k) && body_cache_bytes(c) == 0);
    body_cache_free(c);

    /* 64 KiB in all: 100 bodies of 4 KiB, each new one kept (older ones make room),
     * never more than 16 held */
    CHECK(body_cache_new(64 * 1024, &c) == ERR_OK);
    for (int i = 0; i < 100; i++) {
        snprintf(tag, sizeof(tag), "\"%d\"", i);
        k = key(ua, "q", tag, i);
        body_cache_put(c, &k, big, 4096);
        CHECK(has(c, k));
        CHECK(body_cache_bytes(c) <= 64 * 1024);
    }
    body_cache_free(c);
    free(big);
}

static struct body_cache *shared;

static void *putter(void *arg)
{
    int base = *(int *)arg;
    static const char filler[BODY_CACHE_MAX_BODY];
    char tag[32];

    for (int i = 0; i < 2000; i++) {
        struct body_key k = key(ub, "q", tag, base * 100000 + i);

        snprintf(tag, sizeof(tag), "\"%d-%d\"", base, i);
        body_cache_put(shared, &k, filler, (size_t)(1000 + (i * 7919) % 60000));
        if (body_cache_bytes(shared) > 256 * 1024)
            return (void *)1;
    }
    return NULL;
}

/* Four threads putting at once never pass the bound, and what is counted is what is
 * held: after freeing, nothing is left counted (ASan sees any leak). */
static void test_concurrent_bound(void)
{
    pthread_t t[4];
    int base[4] = {1, 2, 3, 4};

    CHECK(body_cache_new(256 * 1024, &shared) == ERR_OK);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, putter, &base[i]) == 0);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
    CHECK(body_cache_bytes(shared) <= 256 * 1024);
    body_cache_free(shared);
}

int main(void)
{
    test_keyed();
    test_bounds();
    test_concurrent_bound();
    return check_summary("body_cache");
}
