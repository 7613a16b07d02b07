/*
 * auth_cache.c - the verified-token cache (auth_cache.h). Owns its table and its
 * stripe mutexes.
 */
#include "auth_cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/digest.h"

struct entry {
    unsigned char key[DIGEST_SHA256_LEN]; /* SHA-256 of the token */
    char user_id[ID_UUID_LEN];
    int64_t issued_at; /* seconds, -1: none */
    int64_t expires;   /* seconds: a hit needs now < expires */
    uint64_t used;     /* the set's clock when last used; 0: empty */
};

struct auth_cache {
    size_t n_sets; /* a power of two */
    pthread_mutex_t mu[AUTH_CACHE_STRIPES];
    uint64_t clock[AUTH_CACHE_STRIPES]; /* per stripe, under its mutex */
    struct entry *entries;              /* n_sets * AUTH_CACHE_WAYS */
};

enum err auth_cache_new(size_t capacity, struct auth_cache **out)
{
    struct auth_cache *c;
    size_t sets = 1;

    if (!out)
        return ERR_INVALID;
    while (sets <= SIZE_MAX / 2 / AUTH_CACHE_WAYS && sets * 2 * AUTH_CACHE_WAYS <= capacity)
        sets *= 2;
    c = calloc(1, sizeof(*c));
    if (!c)
        return ERR_NOMEM;
    c->n_sets = sets;
    c->entries = calloc(sets * AUTH_CACHE_WAYS, sizeof(*c->entries));
    if (!c->entries) {
        free(c);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < AUTH_CACHE_STRIPES; i++)
        pthread_mutex_init(&c->mu[i], NULL);
    *out = c;
    return ERR_OK;
}

void auth_cache_free(struct auth_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < AUTH_CACHE_STRIPES; i++)
        pthread_mutex_destroy(&c->mu[i]);
    free(c->entries);
    free(c);
}

/* The set of a key (its first bytes are uniformly random) and the stripe guarding it. */
static size_t set_of(const struct auth_cache *c, const unsigned char key[DIGEST_SHA256_LEN])
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return (size_t)(h & (c->n_sets - 1));
}

static size_t stripe_of(size_t set)
{
    return set % AUTH_CACHE_STRIPES;
}

/* A hit: the answer, the entry marked used. An expired entry is emptied. */
static bool lookup(struct auth_cache *c, const unsigned char key[DIGEST_SHA256_LEN], int64_t now,
                   char user_id[ID_UUID_LEN], int64_t *issued_at)
{
    size_t set = set_of(c, key), stripe = stripe_of(set);
    struct entry *e = &c->entries[set * AUTH_CACHE_WAYS];
    bool hit = false;

    pthread_mutex_lock(&c->mu[stripe]);
    for (size_t i = 0; i < AUTH_CACHE_WAYS; i++) {
        if (e[i].used == 0 || memcmp(e[i].key, key, DIGEST_SHA256_LEN) != 0)
            continue;
        if (now >= e[i].expires) {
            memset(&e[i], 0, sizeof(e[i]));
            break;
        }
        memcpy(user_id, e[i].user_id, ID_UUID_LEN);
        if (issued_at)
            *issued_at = e[i].issued_at;
        e[i].used = ++c->clock[stripe];
        hit = true;
        break;
    }
    pthread_mutex_unlock(&c->mu[stripe]);
    return hit;
}

/* Keeps a verified token in an empty or expired slot of its set, else in place of the
 * least recently used one (or refreshes its own, if another thread got there first). */
static void insert(struct auth_cache *c, const unsigned char key[DIGEST_SHA256_LEN], int64_t now,
                   const char user_id[ID_UUID_LEN], int64_t issued_at, int64_t expires)
{
    size_t set = set_of(c, key), stripe = stripe_of(set);
    struct entry *e = &c->entries[set * AUTH_CACHE_WAYS], *victim = NULL;

    pthread_mutex_lock(&c->mu[stripe]);
    for (size_t i = 0; i < AUTH_CACHE_WAYS && !victim; i++) {
        if (e[i].used != 0 && memcmp(e[i].key, key, DIGEST_SHA256_LEN) == 0)
            victim = &e[i];
    }
    for (size_t i = 0; i < AUTH_CACHE_WAYS && !victim; i++) {
        if (e[i].used == 0 || now >= e[i].expires)
            victim = &e[i];
    }
    if (!victim) {
        victim = &e[0];
        for (size_t i = 1; i < AUTH_CACHE_WAYS; i++) {
            if (e[i].used < victim->used)
                victim = &e[i];
        }
    }
    memcpy(victim->key, key, DIGEST_SHA256_LEN);
    memcpy(victim->user_id, user_id, ID_UUID_LEN);
    victim->issued_at = issued_at;
    victim->expires = expires;
    victim->used = ++c->clock[stripe];
    pthread_mutex_unlock(&c->mu[stripe]);
}

enum err auth_cache_verify(struct auth_cache *c, const struct auth *a, const char *token,
                           int64_t now, char user_id[ID_UUID_LEN], int64_t *issued_at,
                           bool *expired)
{
    unsigned char key[DIGEST_SHA256_LEN];
    int64_t iat = -1, exp = 0;
    enum err rc;

    if (!c)
        return auth_verify(a, token, now, user_id, issued_at, expired);
    if (expired)
        *expired = false;
    if (!a || !token)
        return ERR_UNAUTHORIZED;
    digest_sha256(token, strlen(token), key);
    if (lookup(c, key, now, user_id, issued_at))
        return ERR_OK;
    rc = auth_verify_until(a, token, now, user_id, &iat, expired, &exp);
    if (rc != ERR_OK)
        return rc;
    insert(c, key, now, user_id, iat, exp);
    if (issued_at)
        *issued_at = iat;
    return ERR_OK;
}

size_t auth_cache_count(struct auth_cache *c)
{
    size_t n = 0;

    if (!c)
        return 0;
    for (size_t set = 0; set < c->n_sets; set++) {
        size_t stripe = stripe_of(set);

        pthread_mutex_lock(&c->mu[stripe]);
        for (size_t i = 0; i < AUTH_CACHE_WAYS; i++)
            n += c->entries[set * AUTH_CACHE_WAYS + i].used != 0;
        pthread_mutex_unlock(&c->mu[stripe]);
    }
    return n;
}

size_t auth_cache_capacity(const struct auth_cache *c)
{
    return c ? c->n_sets * AUTH_CACHE_WAYS : 0;
}
