/*
 * password.h - password hashes (SPEC §12): argon2id from libargon2, kept as PHC
 * strings ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") that carry their own
 * parameters, so the cost can be raised later: old hashes still verify, and
 * password_needs_rehash() says when to store a new one.
 *
 * Hashing is deliberately slow and takes m KiB of memory: call it from a worker
 * pool, never an HTTP thread, and bound how many run at once (accounts.c does).
 * Salts come from the OS (getrandom). Comparison of the derived hash is constant
 * time (libargon2's). Nothing here logs a password or a hash.
 *
 * Ownership: password_hash() returns a malloc'd string the caller frees. Passwords
 * are borrowed (len bytes, any content). Thread-safe, no state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* OWASP's minimum for argon2id (2023): 19 MiB, 2 passes, 1 lane */
#define PASSWORD_MIN_MEMORY_KIB 19456
#define PASSWORD_MIN_ITERATIONS 2
/* the most a stored hash may ask for when verified: 4 GiB */
#define PASSWORD_MAX_MEMORY_KIB (4u * 1024 * 1024)

struct password_cost {
    uint32_t memory_kib; /* m */
    uint32_t iterations; /* t */
    uint32_t lanes;      /* p */
};

/* A new PHC string for password at cost. ERR_INVALID if the cost is below the
 * minimum, ERR_NOMEM, ERR_INTERNAL (no randomness, a library failure). */
enum err password_hash(const struct password_cost *cost, const void *password, size_t len,
                       char **out);

/* ERR_OK if password matches phc, ERR_UNAUTHORIZED if not, ERR_INVALID if phc is
 * not an argon2id PHC string this module reads, ERR_NOMEM. */
enum err password_verify(const char *phc, const void *password, size_t len);

/* The cost a PHC string was made with; false if it is not one we read. */
bool password_cost_of(const char *phc, struct password_cost *out);

/* True when phc was made with a cost other than cost (or is unreadable). */
bool password_needs_rehash(const char *phc, const struct password_cost *cost);
