/*
 * utf8.c - strict UTF-8 decoding.
 */
#include "util/utf8.h"

size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    uint32_t v;

    if (len == 0 || len > n)
        return 0;
    v = len == 1 ? c : (uint32_t)(c & (0x7f >> len));
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[k] & 0x3f);
    }
    /* overlong forms, surrogates and code points past U+10FFFF are not UTF-8 */
    if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
        (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
        return 0;
    *cp = v;
    return len;
}

long long utf8_count(const unsigned char *s, size_t n)
{
    long long count = 0;

    for (size_t i = 0; i < n; count++) {
        uint32_t cp;
        size_t len = utf8_next(s + i, n - i, &cp);
        if (len == 0 || cp == 0)
            return -1;
        i += len;
    }
    return count;
}
