/*
 * body_cache.c - the kept bodies of conditional GETs (body_cache.h): a direct-mapped
 * table of key digests, each with its own copy of a body. Owns its table, the bodies
 * and the stripe mutexes.
 */
#include "body_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/digest.h"

struct slot {
    unsigned char key[DIGEST_SHA256_LEN];
    char *body; /* malloc'd; NULL: empty */
    size_t len;
};

struct body_cache {
    pthread_mutex_t mu[BODY_CACHE_STRIPES];
    _Atomic size_t bytes; /* of all bodies held */
    size_t max_bytes;
    struct slot slots[BODY_CACHE_SLOTS];
};

enum err body_cache_new(size_t max_bytes, struct body_cache **out)
{
    struct body_cache *c;

    if (!out)
        return ERR_INVALID;
    *out = NULL;
    if (max_bytes == 0)
        return ERR_OK;
    c = calloc(1, sizeof(*c));
    if (!c)
        return ERR_NOMEM;
    for (size_t i = 0; i < BODY_CACHE_STRIPES; i++)
        pthread_mutex_init(&c->mu[i], NULL);
    atomic_init(&c->bytes, 0);
    c->max_bytes = max_bytes;
    *out = c;
    return ERR_OK;
}

void body_cache_free(struct body_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < BODY_CACHE_SLOTS; i++)
        free(c->slots[i].body);
    for (size_t i = 0; i < BODY_CACHE_STRIPES; i++)
        pthread_mutex_destroy(&c->mu[i]);
    free(c);
}

/* The key of (user, what, etag): the three strings with their terminating NULs, so no
 * two triples run together into the same bytes. False for a weak or missing tag. */
static bool key_of(const char *user_id, const char *what, const char *etag,
                   unsigned char key[DIGEST_SHA256_LEN])
{
    size_t lu, lw, le;
    char *text;

    if (!user_id || !what || !etag || strncmp(etag, "W/", 2) == 0)
        return false;
    lu = strlen(user_id) + 1;
    lw = strlen(what) + 1;
    le = strlen(etag) + 1;
    text = malloc(lu + lw + le);
    if (!text)
        return false;
    memcpy(text, user_id, lu);
    memcpy(text + lu, what, lw);
    memcpy(text + lu + lw, etag, le);
    digest_sha256(text, lu + lw + le, key);
    free(text);
    return true;
}

static size_t slot_of(const unsigned char key[DIGEST_SHA256_LEN])
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return (size_t)(h % BODY_CACHE_SLOTS);
}

bool body_cache_get(struct body_cache *c, const char *user_id, const char *what,
                    const char *etag, char **body, size_t *len)
{
    unsigned char key[DIGEST_SHA256_LEN];
    struct slot *s;
    char *copy = NULL;
    size_t i;

    if (!c || !body || !len || !key_of(user_id, what, etag, key))
        return false;
    i = slot_of(key);
    s = &c->slots[i];
    pthread_mutex_lock(&c->mu[i % BODY_CACHE_STRIPES]);
    if (s->body && memcmp(s->key, key, sizeof(key)) == 0) {
        copy = malloc(s->len + 1);
        if (copy) {
            memcpy(copy, s->body, s->len);
            copy[s->len] = '\0';
            *len = s->len;
        }
    }
    pthread_mutex_unlock(&c->mu[i % BODY_CACHE_STRIPES]);
    *body = copy;
    return copy != NULL;
}

void body_cache_put(struct body_cache *c, const char *user_id, const char *what,
                    const char *etag, const char *body, size_t len)
{
    unsigned char key[DIGEST_SHA256_LEN];
    struct slot *s;
    char *copy;
    size_t i;

    if (!c || !body || len > BODY_CACHE_MAX_BODY || !key_of(user_id, what, etag, key))
        return;
    copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, body, len);
    i = slot_of(key);
    s = &c->slots[i];
    pthread_mutex_lock(&c->mu[i % BODY_CACHE_STRIPES]);
    /* the slot's old body goes first, so the bound counts only what stays */
    if (s->body) {
        atomic_fetch_sub(&c->bytes, s->len);
        free(s->body);
        s->body = NULL;
    }
    if (atomic_load(&c->bytes) + len <= c->max_bytes) {
        atomic_fetch_add(&c->bytes, len);
        memcpy(s->key, key, sizeof(key));
        s->body = copy;
        s->len = len;
        copy = NULL;
    }
    pthread_mutex_unlock(&c->mu[i % BODY_CACHE_STRIPES]);
    free(copy);
}

size_t body_cache_bytes(struct body_cache *c)
{
    return c ? atomic_load(&c->bytes) : 0;
}
