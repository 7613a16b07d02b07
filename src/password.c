/*
 * password.c - argon2id hashes as PHC strings, over libargon2 (the reference
 * implementation; Debian's libargon2-1). The only file that includes argon2.h.
 */
#include "password.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>

#define SALT_BYTES 16
#define HASH_BYTES 32
#define PREFIX "$argon2id$v=19$"

static bool cost_ok(const struct password_cost *c)
{
    return c && c->memory_kib >= PASSWORD_MIN_MEMORY_KIB && c->memory_kib <= PASSWORD_MAX_MEMORY_KIB &&
           c->iterations >= PASSWORD_MIN_ITERATIONS && c->iterations <= 1000 && c->lanes >= 1 &&
           c->lanes <= 64 && c->memory_kib >= 8 * c->lanes;
}

enum err password_hash(const struct password_cost *cost, const void *password, size_t len,
                       char **out)
{
    unsigned char salt[SALT_BYTES];
    size_t enc_len;
    char *enc = NULL;
    enum err rc = ERR_INTERNAL;

    *out = NULL;
    if (!cost_ok(cost) || len > ARGON2_MAX_PWD_LENGTH)
        return ERR_INVALID;
    if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
        goto cleanup;
    enc_len = argon2_encodedlen(cost->iterations, cost->memory_kib, cost->lanes, SALT_BYTES,
                                HASH_BYTES, Argon2_id);
    enc = malloc(enc_len);
    if (!enc) {
        rc = ERR_NOMEM;
        goto cleanup;
    }
    /* an empty password is a valid input to argon2; pass a non-NULL pointer for it */
    if (argon2id_hash_encoded(cost->iterations, cost->memory_kib, cost->lanes,
                              len ? password : "", len, salt, sizeof(salt), HASH_BYTES, enc,
                              enc_len) != ARGON2_OK) {
        rc = ERR_INTERNAL;
        goto cleanup;
    }
    *out = enc;
    enc = NULL;
    rc = ERR_OK;
cleanup:
    explicit_bzero(salt, sizeof(salt));
    free(enc);
    return rc;
}

bool password_cost_of(const char *phc, struct password_cost *out)
{
    unsigned m, t, p;
    int used = 0;

    if (!phc || strncmp(phc, PREFIX, strlen(PREFIX)) != 0)
        return false;
    /* "m=19456,t=2,p=1$": digits only, then the salt separator */
    if (sscanf(phc + strlen(PREFIX), "m=%u,t=%u,p=%u%n", &m, &t, &p, &used) != 3 ||
        phc[strlen(PREFIX) + (size_t)used] != '$')
        return false;
    *out = (struct password_cost){.memory_kib = m, .iterations = t, .lanes = p};
    return true;
}

enum err password_verify(const char *phc, const void *password, size_t len)
{
    struct password_cost c;
    int r;

    /* refuses strings libargon2 would read but we would not store, and costs so high
     * that verifying one would be a denial of service */
    if (!password_cost_of(phc, &c) || c.memory_kib > PASSWORD_MAX_MEMORY_KIB || c.iterations > 1000 ||
        c.lanes > 64 || len > ARGON2_MAX_PWD_LENGTH)
        return ERR_INVALID;
    r = argon2id_verify(phc, len ? password : "", len);
    if (r == ARGON2_OK)
        return ERR_OK;
    if (r == ARGON2_VERIFY_MISMATCH)
        return ERR_UNAUTHORIZED;
    return r == ARGON2_MEMORY_ALLOCATION_ERROR ? ERR_NOMEM : ERR_INVALID;
}

bool password_needs_rehash(const char *phc, const struct password_cost *cost)
{
    struct password_cost c;

    return !password_cost_of(phc, &c) || c.memory_kib != cost->memory_kib ||
           c.iterations != cost->iterations || c.lanes != cost->lanes;
}
