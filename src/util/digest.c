/*
 * digest.c - SHA-256 over OpenSSL's EVP calls: one-shot, and in pieces.
 */
#include "util/digest.h"

#include <stdlib.h>

#include <openssl/evp.h>

void digest_sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN])
{
    unsigned int n = 0;

    /* cannot fail for SHA-256 with a valid output buffer, short of a broken libcrypto */
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != DIGEST_SHA256_LEN)
        abort();
}

/* struct digest is an EVP_MD_CTX; the cast keeps OpenSSL's header out of ours. */
struct digest *digest_new(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return (struct digest *)ctx;
}

void digest_update(struct digest *d, const void *data, size_t len)
{
    if (len > 0 && EVP_DigestUpdate((EVP_MD_CTX *)d, data, len) != 1)
        abort();
}

void digest_final(struct digest *d, unsigned char out[DIGEST_SHA256_LEN])
{
    unsigned int n = 0;

    if (EVP_DigestFinal_ex((EVP_MD_CTX *)d, out, &n) != 1 || n != DIGEST_SHA256_LEN)
        abort();
    EVP_MD_CTX_free((EVP_MD_CTX *)d);
}

void digest_free(struct digest *d)
{
    EVP_MD_CTX_free((EVP_MD_CTX *)d);
}
