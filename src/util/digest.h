/*
 * digest.h - SHA-256 (OpenSSL) of a byte string, for looking secrets up by their
 * hash: refresh tokens, share tokens, e-mails in the sign-in throttle. Pure,
 * thread-safe; the caller owns out.
 */
#pragma once

#include <stddef.h>

#define DIGEST_SHA256_LEN 32

void digest_sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN]);
