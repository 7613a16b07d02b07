/*
 * test_vcache.c - the versioned-value map behind the kept search counts: a value comes
 * back with the version it was stored at, a key never answers for another, a slot
 * holds the newest put, the bound holds, and threads may share it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "util/vcache.h"

static void key_of(const char *text, unsigned char key[DIGEST_SHA256_LEN])
{
    vcache_key(text, strlen(text), key);
}

static void test_get_put(void)
{
    struct vcache *c = NULL;
    unsigned char a[DIGEST_SHA256_LEN], b[DIGEST_SHA256_LEN];
    int64_t v = -1, n = -1;

    CHECK(vcache_new(64, &c) == ERR_OK);
    key_of("user-a - 0 1 -1 sepia", a);
    key_of("user-b - 0 1 -1 sepia", b);
    CHECK(!vcache_get(c, a, &v, &n));
    vcache_put(c, a, 7, 625);
    CHECK(vcache_get(c, a, &v, &n));
    CHECK_EQ_INT(v, 7);
    CHECK_EQ_INT(n, 625);
    CHECK(!vcache_get(c, b, &v, &n) || memcmp(a, b, sizeof(a)) == 0);
    /* a newer version replaces the older */
    vcache_put(c, a, 8, 626);
    CHECK(vcache_get(c, a, &v, &n));
    CHECK_EQ_INT(v, 8);
    CHECK_EQ_INT(n, 626);
    vcache_free(c);
    /* NULL is a cache that holds nothing */
    CHECK(!vcache_get(NULL, a, &v, &n));
    vcache_put(NULL, a, 1, 1);
    vcache_free(NULL);
    CHECK(vcache_new(64, NULL) == ERR_INVALID);
}

/* A table of one slot: the second key takes it, the first is then missing, never
 * answered with the second's value. */
static void test_bound(void)
{
    struct vcache *c = NULL;
    unsigned char a[DIGEST_SHA256_LEN], b[DIGEST_SHA256_LEN];
    int64_t v = 0, n = 0, hits = 0;
    char text[64];

    CHECK(vcache_new(1, &c) == ERR_OK);
    key_of("a", a);
    key_of("b", b);
    vcache_put(c, a, 1, 10);
    vcache_put(c, b, 2, 20);
    CHECK(!vcache_get(c, a, &v, &n));
    CHECK(vcache_get(c, b, &v, &n) && v == 2 && n == 20);
    vcache_free(c);
    /* 1000 keys in 64 slots: at most 64 are held, each with its own value */
    CHECK(vcache_new(100, &c) == ERR_OK);
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof(text), "key %d", i);
        key_of(text, a);
        vcache_put(c, a, i, i * 3);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof(text), "key %d", i);
        key_of(text, a);
        if (vcache_get(c, a, &v, &n)) {
            hits++;
            CHECK(v == i && n == i * 3);
        }
    }
    CHECK(hits > 0 && hits <= 64);
    vcache_free(c);
}

static struct vcache *shared;

/* Two keys share the one slot of a one-slot table; each stores (version, value) pairs
 * with value = version * 3 + its own tag, so a torn entry or another key's pair is seen. */
static void *hammer(void *arg)
{
    int tag = *(int *)arg;
    unsigned char k[DIGEST_SHA256_LEN];
    int64_t v, n;

    key_of(tag ? "key one" : "key zero", k);
    for (int64_t i = 0; i < 50000; i++) {
        vcache_put(shared, k, i, i * 3 + tag);
        if (vcache_get(shared, k, &v, &n) && n != v * 3 + tag)
            return (void *)1;
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    int tag[4] = {0, 1, 0, 1};

    CHECK(vcache_new(1, &shared) == ERR_OK);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, hammer, &tag[i]) == 0);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
    vcache_free(shared);
}

int main(void)
{
    test_get_put();
    test_bound();
    test_threads();
    return check_summary("vcache");
}
