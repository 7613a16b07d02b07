/*
 * vcache.c - the versioned-value map (vcache.h): a direct-mapped table of key digests.
 * Owns its table and its stripe mutexes.
 */
#include "util/vcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    unsigned char key[DIGEST_SHA256_LEN];
    int64_t version, value;
    bool used;
};

struct vcache {
    size_t n; /* a power of two */
    pthread_mutex_t mu[VCACHE_STRIPES];
    struct slot *slots;
};

enum err vcache_new(size_t capacity, struct vcache **out)
{
    struct vcache *c;
    size_t n = 1;

    if (!out)
        return ERR_INVALID;
    while (n <= SIZE_MAX / 2 && n * 2 <= capacity)
        n *= 2;
    c = calloc(1, sizeof(*c));
    if (!c)
        return ERR_NOMEM;
    c->n = n;
    c->slots = calloc(n, sizeof(*c->slots));
    if (!c->slots) {
        free(c);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < VCACHE_STRIPES; i++)
        pthread_mutex_init(&c->mu[i], NULL);
    *out = c;
    return ERR_OK;
}

void vcache_free(struct vcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < VCACHE_STRIPES; i++)
        pthread_mutex_destroy(&c->mu[i]);
    free(c->slots);
    free(c);
}

void vcache_key(const void *data, size_t len, unsigned char key[DIGEST_SHA256_LEN])
{
    digest_sha256(data, len, key);
}

/* A key's slot (a digest's first bytes are uniformly random). */
static size_t slot_of(const struct vcache *c, const unsigned char key[DIGEST_SHA256_LEN])
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return (size_t)(h & (c->n - 1));
}

bool vcache_get(struct vcache *c, const unsigned char key[DIGEST_SHA256_LEN], int64_t *version,
                int64_t *value)
{
    bool hit = false;
    size_t i;

    if (!c)
        return false;
    i = slot_of(c, key);
    pthread_mutex_lock(&c->mu[i % VCACHE_STRIPES]);
    if (c->slots[i].used && memcmp(c->slots[i].key, key, DIGEST_SHA256_LEN) == 0) {
        *version = c->slots[i].version;
        *value = c->slots[i].value;
        hit = true;
    }
    pthread_mutex_unlock(&c->mu[i % VCACHE_STRIPES]);
    return hit;
}

void vcache_put(struct vcache *c, const unsigned char key[DIGEST_SHA256_LEN], int64_t version,
                int64_t value)
{
    size_t i;

    if (!c)
        return;
    i = slot_of(c, key);
    pthread_mutex_lock(&c->mu[i % VCACHE_STRIPES]);
    memcpy(c->slots[i].key, key, DIGEST_SHA256_LEN);
    c->slots[i].version = version;
    c->slots[i].value = value;
    c->slots[i].used = true;
    pthread_mutex_unlock(&c->mu[i % VCACHE_STRIPES]);
}
