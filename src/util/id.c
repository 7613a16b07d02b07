/*
 * id.c - UUIDs and random hex from getrandom(2). Thread-safe, no state.
 */
#include "id.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "util/hex.h"

bool id_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

bool id_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];

    if (nbytes > sizeof(raw) || !id_random(raw, nbytes))
        return false;
    hex_encode(raw, nbytes, out);
    return true;
}

bool id_random_token(char out[ID_TOKEN_LEN])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[ID_TOKEN_BYTES + 1] = {0}; /* + 1: the last group reads one past */
    size_t o = 0;

    if (!id_random(raw, ID_TOKEN_BYTES))
        return false;
    /* base64url without padding: 6 bits a character, the last character's low bits 0 */
    for (size_t bit = 0; bit < ID_TOKEN_BYTES * 8; bit += 6) {
        size_t i = bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)raw[i] << 8 | raw[i + 1]) >> (10 - shift);
        out[o++] = alphabet[v & 63];
    }
    out[o] = '\0';
    explicit_bzero(raw, sizeof(raw));
    return true;
}

bool id_token_is_wellformed(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= ID_TOKEN_LEN - 1 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                       (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return n == ID_TOKEN_LEN - 1;
}

static void format_uuid(const unsigned char b[16], char out[ID_UUID_LEN])
{
    char hex[33];
    hex_encode(b, 16, hex);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
}

bool id_uuid_new(char out[ID_UUID_LEN])
{
    unsigned char b[16];

    if (!id_random(b, sizeof(b)))
        return false;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    format_uuid(b, out);
    return true;
}

bool id_uuid_parse(const char *s, size_t n, char out[ID_UUID_LEN])
{
    unsigned char b[16];
    size_t nd = 0;

    if (!s)
        return false;
    if (n >= 9 && strncasecmp(s, "urn:uuid:", 9) == 0) {
        s += 9;
        n -= 9;
    }
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }
    if (n == 36) {
        if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
            return false;
    } else if (n != 32) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int v;
        if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
            continue;
        v = hex_value(s[i]);
        if (v < 0)
            return false;
        if (nd % 2 == 0)
            b[nd / 2] = (unsigned char)(v << 4);
        else
            b[nd / 2] |= (unsigned char)v;
        nd++;
    }
    if (nd != 32)
        return false;
    format_uuid(b, out);
    return true;
}

bool id_uuid_is_canonical(const char *s)
{
    char canon[ID_UUID_LEN];

    if (!s || strlen(s) != 36 || !id_uuid_parse(s, 36, canon))
        return false;
    return strcmp(s, canon) == 0;
}
