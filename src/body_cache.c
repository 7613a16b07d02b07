/*
 * body_cache.c - the kept bodies of conditional GETs (body_cache.h): a direct-mapped
 * table of key digests, each with its own copy of a body. Owns its table, the bodies
 * and the stripe mutexes.
 *
 * The byte bound is kept by reservation: a body is counted (compare-and-swap on
 * bytes) before it is stored, so concurrent puts under different stripes cannot pass
 * it together. Locks: one stripe at a time, never two (eviction takes each victim's
 * stripe alone, before the put takes its own).
 */
#include "body_cache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/digest.h"

#define EVICT_TRIES BODY_CACHE_SLOTS /* slots the clock hand may visit for one put (the
                                      * empty ones cost a lock each: 2,048 of them about
                                      * 40 us, against the page a miss writes) */

struct slot {
    unsigned char key[DIGEST_SHA256_LEN];
    char *body; /* malloc'd; NULL: empty */
    size_t len;
};

struct body_cache {
    pthread_mutex_t mu[BODY_CACHE_STRIPES];
    _Atomic size_t bytes; /* of all bodies held, reserved before they are stored */
    _Atomic size_t hand;  /* the next slot eviction empties */
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
    atomic_init(&c->hand, 0);
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

/* The key of k: its strings with their terminating NULs (so no two keys run together
 * into the same bytes) and the version. False for a weak or missing tag. */
static bool key_of(const struct body_key *k, unsigned char key[DIGEST_SHA256_LEN])
{
    char version[24];
    size_t lu, lw, le, lv;
    char *text;

    if (!k || !k->user_id || !k->what || !k->etag || strncmp(k->etag, "W/", 2) == 0)
        return false;
    lv = (size_t)snprintf(version, sizeof(version), "%" PRId64, k->version) + 1;
    lu = strlen(k->user_id) + 1;
    lw = strlen(k->what) + 1;
    le = strlen(k->etag) + 1;
    text = malloc(lu + lw + le + lv);
    if (!text)
        return false;
    memcpy(text, k->user_id, lu);
    memcpy(text + lu, k->what, lw);
    memcpy(text + lu + lw, k->etag, le);
    memcpy(text + lu + lw + le, version, lv);
    digest_sha256(text, lu + lw + le + lv, key);
    free(text);
    return true;
}

static size_t slot_of(const unsigned char key[DIGEST_SHA256_LEN])
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return (size_t)(h % BODY_CACHE_SLOTS);
}

static pthread_mutex_t *stripe(struct body_cache *c, size_t slot)
{
    return &c->mu[slot % BODY_CACHE_STRIPES];
}

/* Empties slot i (under its stripe); its bytes are no longer counted. */
static void empty_slot(struct body_cache *c, size_t i)
{
    struct slot *s = &c->slots[i];
    char *old = NULL;

    pthread_mutex_lock(stripe(c, i));
    if (s->body) {
        old = s->body;
        atomic_fetch_sub(&c->bytes, s->len);
        s->body = NULL;
        s->len = 0;
    }
    pthread_mutex_unlock(stripe(c, i));
    free(old);
}

/* Counts len more bytes if they fit the bound: true if reserved. */
static bool reserve(struct body_cache *c, size_t len)
{
    size_t cur = atomic_load(&c->bytes);

    while (cur <= c->max_bytes && len <= c->max_bytes - cur)
        if (atomic_compare_exchange_weak(&c->bytes, &cur, cur + len))
            return true;
    return false;
}

bool body_cache_get(struct body_cache *c, const struct body_key *k, char **body, size_t *len)
{
    unsigned char key[DIGEST_SHA256_LEN];
    struct slot *s;
    char *copy = NULL;
    size_t i;

    if (!c || !body || !len || !key_of(k, key))
        return false;
    i = slot_of(key);
    s = &c->slots[i];
    pthread_mutex_lock(stripe(c, i));
    if (s->body && memcmp(s->key, key, sizeof(key)) == 0) {
        copy = malloc(s->len + 1);
        if (copy) {
            memcpy(copy, s->body, s->len);
            copy[s->len] = '\0';
            *len = s->len;
        }
    }
    pthread_mutex_unlock(stripe(c, i));
    *body = copy;
    return copy != NULL;
}

void body_cache_put(struct body_cache *c, const struct body_key *k, const char *body, size_t len)
{
    unsigned char key[DIGEST_SHA256_LEN];
    struct slot *s;
    char *copy;
    size_t i;

    if (!c || !body || len > BODY_CACHE_MAX_BODY || len > c->max_bytes || !key_of(k, key))
        return;
    i = slot_of(key);
    empty_slot(c, i); /* what the key replaces goes first */
    for (int n = 0; !reserve(c, len); n++) {
        if (n == EVICT_TRIES)
            return; /* no room made: not kept */
        empty_slot(c, atomic_fetch_add(&c->hand, 1) % BODY_CACHE_SLOTS);
    }
    copy = malloc(len ? len : 1);
    if (!copy) {
        atomic_fetch_sub(&c->bytes, len);
        return;
    }
    memcpy(copy, body, len);
    s = &c->slots[i];
    pthread_mutex_lock(stripe(c, i));
    if (s->body) { /* another put of this slot came in between: ours replaces it */
        atomic_fetch_sub(&c->bytes, s->len);
        free(s->body);
    }
    memcpy(s->key, key, sizeof(key));
    s->body = copy;
    s->len = len;
    pthread_mutex_unlock(stripe(c, i));
}

size_t body_cache_bytes(struct body_cache *c)
{
    return c ? atomic_load(&c->bytes) : 0;
}
