/*
 * digest.h - SHA-256 (OpenSSL) of a byte string, for looking secrets up by their
 * hash: refresh tokens, share tokens, e-mails in the sign-in throttle. Pure,
 * thread-safe; the caller owns out.
 */
#pragma once

#include <stddef.h>

#define DIGEST_SHA256_LEN 32

void digest_sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN]);

/*
 * SHA-256 over bytes that arrive in pieces (a request body as it streams in).
 * digest_new: NULL when out of memory; digest_final writes out and frees d;
 * digest_free (accepts NULL) frees one never finished. One thread at a time.
 */
struct digest;
struct digest *digest_new(void);
void digest_update(struct digest *d, const void *data, size_t len);
void digest_final(struct digest *d, unsigned char out[DIGEST_SHA256_LEN]);
void digest_free(struct digest *d);
