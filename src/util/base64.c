/*
 * base64.c - thin wrappers over OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock that
 * add what they lack: a size check before decoding, unpadded input, and the
 * true decoded length (DecodeBlock counts padding as zero bytes).
 */
#include "util/base64.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

size_t base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t base64_encode_into(const void *data, size_t n, char *out)
{
    const unsigned char *p = data;
    size_t written = 0;

    /* EVP_EncodeBlock takes an int: go in chunks that are a multiple of 3 bytes */
    while (n > 0) {
        size_t chunk = n > (size_t)3 * 1024 * 1024 ? (size_t)3 * 1024 * 1024 : n;
        written += (size_t)EVP_EncodeBlock((unsigned char *)out + written, p, (int)chunk);
        p += chunk;
        n -= chunk;
    }
    out[written] = '\0';
    return written;
}

static bool is_b64(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

enum err base64_decode(const char *text, size_t len, size_t max_out, unsigned char **out,
                       size_t *out_len)
{
    size_t pad = 0, body, full, need, done = 0;
    unsigned char *buf;

    while (len > 0 && text[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_b64((unsigned char)text[i]))
            return ERR_INVALID;
    if (len % 4 == 1)
        return ERR_INVALID;
    need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > max_out)
        return ERR_TOO_LARGE;
    buf = malloc(need + 3); /* the last quantum decodes whole */
    if (!buf)
        return ERR_NOMEM;
    body = len / 4 * 4;
    for (size_t off = 0; off < body;) { /* DecodeBlock takes an int: chunks of 4 MiB */
        size_t chunk = body - off > (size_t)4 * 1024 * 1024 ? (size_t)4 * 1024 * 1024 : body - off;
        if (EVP_DecodeBlock(buf + done, (const unsigned char *)text + off, (int)chunk) < 0)
            goto bad;
        done += chunk / 4 * 3;
        off += chunk;
    }
    full = len % 4;
    if (full) {
        char last[4] = {'A', 'A', 'A', 'A'};
        memcpy(last, text + body, full);
        if (EVP_DecodeBlock(buf + done, (const unsigned char *)last, 4) < 0)
            goto bad;
        done += full - 1;
    }
    *out = buf;
    *out_len = done;
    return ERR_OK;
bad:
    free(buf);
    return ERR_INVALID;
}
