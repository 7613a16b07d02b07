/*
 * idset.c - the bounded set of UUIDs (idset.h). Owns its slots and mutex.
 */
#include "util/idset.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/id.h"

/*
 * The set: an open-addressing (linear probing) hash set of 16-byte ids. It
 * only ever grows until it is half full, then it is emptied and starts again, so
 * probe sequences stay short and memory stays bounded.
 */
#define IDSET_SLOTS 65536u /* a power of two */
#define IDSET_MAX (IDSET_SLOTS / 2)

struct slot {
    unsigned char id[16];
    unsigned char full;
};

struct idset {
    pthread_mutex_t mu;
    size_t used;
    uint64_t seed[2]; /* random per process, so ids cannot be picked to collide */
    struct slot *slots;
};

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Canonical UUID text (checked by the caller) to its 16 bytes. */
static bool uuid_to_bytes(const char *s, unsigned char out[16])
{
    size_t k = 0;

    for (size_t i = 0; i < 36; i++) {
        int hi, lo;

        if (i == 8 || i == 13 || i == 18 || i == 23)
            continue;
        hi = hex_nibble(s[i]);
        lo = hex_nibble(s[i + 1]);
        if (hi < 0 || lo < 0 || k >= 16)
            return false;
        out[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    return k == 16;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static size_t slot_of(const struct idset *uc, const unsigned char id[16])
{
    uint64_t lo, hi;

    memcpy(&lo, id, 8);
    memcpy(&hi, id + 8, 8);
    return (size_t)(mix64(mix64(lo ^ uc->seed[0]) ^ hi ^ uc->seed[1]) & (IDSET_SLOTS - 1));
}

enum err idset_new(struct idset **out)
{
    struct idset *uc = calloc(1, sizeof(*uc));
    enum err rc = ERR_NOMEM;

    if (!uc)
        goto out;
    uc->slots = calloc(IDSET_SLOTS, sizeof(*uc->slots));
    if (!uc->slots)
        goto out;
    if (!id_random(uc->seed, sizeof(uc->seed))) {
        rc = ERR_INTERNAL;
        goto out;
    }
    if (pthread_mutex_init(&uc->mu, NULL) != 0) {
        rc = ERR_INTERNAL;
        goto out;
    }
    *out = uc;
    uc = NULL;
    rc = ERR_OK;
out:
    if (uc)
        free(uc->slots);
    free(uc);
    return rc;
}

void idset_free(struct idset *uc)
{
    if (!uc)
        return;
    pthread_mutex_destroy(&uc->mu);
    free(uc->slots);
    free(uc);
}

/* True if id is in the set. */
static bool has(struct idset *uc, const unsigned char id[16])
{
    size_t i = slot_of(uc, id);
    bool found = false;

    pthread_mutex_lock(&uc->mu);
    for (;;) {
        const struct slot *s = &uc->slots[i];
        if (!s->full)
            break;
        if (memcmp(s->id, id, 16) == 0) {
            found = true;
            break;
        }
        i = (i + 1) & (IDSET_SLOTS - 1);
    }
    pthread_mutex_unlock(&uc->mu);
    return found;
}

/* The caller holds the mutex. */
static void empty(struct idset *uc)
{
    memset(uc->slots, 0, IDSET_SLOTS * sizeof(*uc->slots));
    uc->used = 0;
}

void idset_clear(struct idset *uc)
{
    if (!uc)
        return;
    pthread_mutex_lock(&uc->mu);
    empty(uc);
    pthread_mutex_unlock(&uc->mu);
}

static void add(struct idset *uc, const unsigned char id[16])
{
    size_t i = slot_of(uc, id);

    pthread_mutex_lock(&uc->mu);
    if (uc->used >= IDSET_MAX)
        empty(uc);
    /* never more than half full, so an empty slot is always reached */
    for (;;) {
        struct slot *s = &uc->slots[i];
        if (!s->full) {
            memcpy(s->id, id, 16);
            s->full = 1;
            uc->used++;
            break;
        }
        if (memcmp(s->id, id, 16) == 0)
            break; /* another thread got here first */
        i = (i + 1) & (IDSET_SLOTS - 1);
    }
    pthread_mutex_unlock(&uc->mu);
}

bool idset_has(struct idset *s, const char *id)
{
    unsigned char raw[16];

    return s && id && id_uuid_is_canonical(id) && uuid_to_bytes(id, raw) && has(s, raw);
}

void idset_add(struct idset *s, const char *id)
{
    unsigned char raw[16];

    if (s && id && id_uuid_is_canonical(id) && uuid_to_bytes(id, raw))
        add(s, raw);
}
