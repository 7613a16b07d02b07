/*
 * id.h - identifiers: UUIDs, random hex and storage keys.
 *
 * Randomness comes from getrandom(2). Everything else is pure and thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ID_UUID_LEN 37 /* 36 characters + NUL */

/* Fills buf with n cryptographically random bytes. ERR-free: aborts never; returns false
 * only if the kernel refuses, which callers treat as an internal error. */
bool id_random(void *buf, size_t n);

/* A new random (version 4) UUID, lowercase. Returns false if randomness failed. */
bool id_uuid_new(char out[ID_UUID_LEN]);

/*
 * Parses a UUID in the forms a client may send (hyphenated, any case, optionally in
 * braces or with a "urn:uuid:" prefix, or 32 bare hex digits), as Python's uuid.UUID
 * does, and writes the canonical lowercase hyphenated form. Returns false if s (of
 * length n) is not a UUID.
 */
bool id_uuid_parse(const char *s, size_t n, char out[ID_UUID_LEN]);

/* True if s is exactly a canonical lowercase hyphenated UUID. */
bool id_uuid_is_canonical(const char *s);

/* An opaque secret token: ID_TOKEN_BYTES random bytes (256 bits) as unpadded
 * base64url (43 characters) plus NUL. False if randomness failed. */
#define ID_TOKEN_BYTES 32
#define ID_TOKEN_LEN 44
bool id_random_token(char out[ID_TOKEN_LEN]);
/* True if s has the shape id_random_token() makes (43 base64url characters). */
bool id_token_is_wellformed(const char *s);

/* n random bytes as 2n lowercase hex characters plus NUL into out (size 2n+1). */
bool id_random_hex(char *out, size_t nbytes);
