/*
 * test_pool.c - the worker pool (order, bound, draining close) and base64
 * (RFC 4648's test vectors, padding, rejects, the size check).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "util/base64.h"
#include "util/pool.h"

/* ---- pool ---- */

struct gate {
    atomic_int released; /* workers spin here until the test lets them go */
    atomic_int ran;
    atomic_int order[64];
    atomic_int next;
};

static void blocked_task(void *arg)
{
    struct gate *g = arg;

    while (!atomic_load(&g->released)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&g->ran, 1);
}

struct ordered {
    struct gate *g;
    int id;
};

static void ordered_task(void *arg)
{
    struct ordered *o = arg;
    int slot = atomic_fetch_add(&o->g->next, 1);

    if (slot < 64)
        atomic_store(&o->g->order[slot], o->id);
    atomic_fetch_add(&o->g->ran, 1);
}

static struct pool *chain_pool;
static void chain_task(void *arg)
{
    struct gate *g = arg;

    /* a task may queue more work while the pool drains */
    if (atomic_fetch_add(&g->ran, 1) < 9)
        pool_continue(chain_pool, chain_task, g);
}

static void test_pool(void)
{
    struct pool *p = NULL;
    struct gate g = {0};
    struct ordered items[10];

    CHECK_EQ_INT(pool_open("t", 0, 4, NULL, &p), ERR_INVALID);

    /* one worker held up: the queue fills to its bound, then ERR_BUSY */
    CHECK_EQ_INT(pool_open("t", 1, 3, NULL, &p), ERR_OK);
    CHECK_EQ_INT(pool_submit(p, blocked_task, &g), ERR_OK);
    for (int i = 0; i < 200 && pool_queued(p) > 0; i++) { /* until the worker has taken it */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < 3; i++) {
        items[i].g = &g;
        items[i].id = i;
        CHECK_EQ_INT(pool_submit(p, ordered_task, &items[i]), ERR_OK);
    }
    CHECK_EQ_INT(pool_queued(p), 3);
    CHECK_EQ_INT(pool_submit(p, ordered_task, &items[0]), ERR_BUSY);
    /* work already admitted is never refused */
    items[3].g = &g;
    items[3].id = 3;
    pool_continue(p, ordered_task, &items[3]);
    CHECK_EQ_INT(pool_queued(p), 4);
    atomic_store(&g.released, 1);
    pool_close(p); /* drains: everything queued runs */
    CHECK_EQ_INT(atomic_load(&g.ran), 5);
    for (int i = 0; i < 4; i++) /* FIFO */
        CHECK_EQ_INT(atomic_load(&g.order[i]), i);

    /* close runs the tasks that tasks queue */
    struct gate c = {0};
    CHECK_EQ_INT(pool_open("chain", 2, 16, NULL, &chain_pool), ERR_OK);
    CHECK_EQ_INT(pool_submit(chain_pool, chain_task, &c), ERR_OK);
    pool_close(chain_pool);
    CHECK_EQ_INT(atomic_load(&c.ran), 10);
    pool_close(NULL);
}

/* ---- base64 ---- */

static void check_roundtrip(const char *plain, const char *encoded)
{
    size_t n = strlen(plain);
    char *enc = malloc(base64_encoded_len(n) + 1);
    unsigned char *dec = NULL;
    size_t dec_len = 0;

    CHECK_EQ_INT(base64_encoded_len(n), strlen(encoded));
    CHECK_EQ_INT(base64_encode_into(plain, n, enc), strlen(encoded));
    CHECK_EQ_STR(enc, encoded);
    CHECK_EQ_INT(base64_decode(encoded, strlen(encoded), 1024, &dec, &dec_len), ERR_OK);
    CHECK_EQ_INT(dec_len, n);
    CHECK(memcmp(dec, plain, n) == 0);
    free(dec);
    free(enc);
}

static void test_base64(void)
{
    unsigned char *out = NULL;
    size_t len = 0;

    /* RFC 4648 §10 */
    check_roundtrip("", "");
    check_roundtrip("f", "Zg==");
    check_roundtrip("fo", "Zm8=");
    check_roundtrip("foo", "Zm9v");
    check_roundtrip("foob", "Zm9vYg==");
    check_roundtrip("fooba", "Zm9vYmE=");
    check_roundtrip("foobar", "Zm9vYmFy");

    /* padding is optional on input */
    CHECK_EQ_INT(base64_decode("Zm9vYg", 6, 16, &out, &len), ERR_OK);
    CHECK_EQ_INT(len, 4);
    CHECK(memcmp(out, "foob", 4) == 0);
    free(out);

    /* not base64: whitespace, the URL alphabet, a lone character, padding inside */
    CHECK_EQ_INT(base64_decode("Zm9v\nYg==", 9, 16, &out, &len), ERR_INVALID);
    CHECK_EQ_INT(base64_decode("Zm9-_g==", 8, 16, &out, &len), ERR_INVALID);
    CHECK_EQ_INT(base64_decode("Zm9vY", 5, 16, &out, &len), ERR_INVALID);
    CHECK_EQ_INT(base64_decode("Zm=vYg==", 8, 16, &out, &len), ERR_INVALID);
    CHECK_EQ_INT(base64_decode("Zm9vYg===", 9, 16, &out, &len), ERR_INVALID);

    /* the size check comes before any work */
    CHECK_EQ_INT(base64_decode("Zm9vYmFy", 8, 5, &out, &len), ERR_TOO_LARGE);
    CHECK_EQ_INT(base64_decode("Zm9vYmFy", 8, 6, &out, &len), ERR_OK);
    free(out);

    /* every byte value, across the encoder's chunk boundary */
    size_t big = 3 * 1024 * 1024 + 7;
    unsigned char *bin = malloc(big);
    char *enc = malloc(base64_encoded_len(big) + 1);
    for (size_t i = 0; i < big; i++)
        bin[i] = (unsigned char)(i * 131 + (i >> 9));
    CHECK_EQ_INT(base64_encode_into(bin, big, enc), base64_encoded_len(big));
    CHECK_EQ_INT(base64_decode(enc, base64_encoded_len(big), big, &out, &len), ERR_OK);
    CHECK_EQ_INT(len, big);
    CHECK(out && memcmp(out, bin, big) == 0);
    free(out);
    free(enc);
    free(bin);
}

int main(void)
{
    test_pool();
    test_base64();
    return check_summary("pool");
}
