/*
 * jsonw.c - the streaming JSON writer (see jsonw.h). Pure; one writer per thread.
 */
#include "jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

void jsonw_init(struct jsonw *w, size_t hint)
{
    memset(w, 0, sizeof(*w));
    w->cap = hint < 64 ? 64 : hint;
    w->buf = malloc(w->cap);
    if (!w->buf)
        w->failed = true;
}

static bool reserve(struct jsonw *w, size_t n)
{
    char *grown;

    if (w->failed)
        return false;
    grown = grow(w->buf, &w->cap, w->len + n + 1, 1, 64, (size_t)1 << 40);
    if (!grown) {
        w->failed = true;
        return false;
    }
    w->buf = grown;
    return true;
}

static void put(struct jsonw *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void putc1(struct jsonw *w, char c)
{
    if (!reserve(w, 1))
        return;
    w->buf[w->len++] = c;
}

/* Called before every value or key: the comma, and the bookkeeping. */
static void before_value(struct jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth - 1])
            putc1(w, ',');
        w->first[w->depth - 1] = false;
    }
}

static void open_scope(struct jsonw *w, char c)
{
    before_value(w);
    if (w->depth >= JSONW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->first[w->depth++] = true;
    putc1(w, c);
}

static void close_scope(struct jsonw *w, char c)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = true;
        return;
    }
    w->depth--;
    putc1(w, c);
}

void jsonw_obj_begin(struct jsonw *w)
{
    open_scope(w, '{');
}

void jsonw_obj_end(struct jsonw *w)
{
    close_scope(w, '}');
}

void jsonw_arr_begin(struct jsonw *w)
{
    open_scope(w, '[');
}

void jsonw_arr_end(struct jsonw *w)
{
    close_scope(w, ']');
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t k;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        k = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        k = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        k = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return k;
}

/* 1 for the bytes a JSON string cannot hold as they are: controls, '"', '\\', and
 * the start of a multi-byte sequence (checked for UTF-8 validity). */
static const unsigned char special[256] = {
    [0x00 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

/* The two-character escapes; the other controls are written as \\u00XX. */
static const char *const short_escape[256] = {
    ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t",
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* True if any byte of v is zero (the classic bit trick; exact for this use). */
static inline uint64_t has_zero(uint64_t v)
{
    return (v - ONES) & ~v & HIGHS;
}

/* True if any byte of v is special: below 0x20, '"', '\\', or 0x80 and above. */
static inline bool word_is_special(uint64_t v)
{
    return ((v - ONES * 0x20) | v | has_zero(v ^ (ONES * '"')) | has_zero(v ^ (ONES * '\\'))) &
           HIGHS;
}

static void put_escaped(struct jsonw *w, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the pending run of bytes that need no escaping */

    putc1(w, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c;
        /* eight plain bytes at a time: the common case of URLs, ids and times */
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (word_is_special(v))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        c = s[i];
        if (!special[c]) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_len(s + i, n - i);
            if (k > 0) {
                i += k;
                continue;
            }
        }
        put(w, str + run, i - run);
        if (short_escape[c]) {
            put(w, short_escape[c], 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(w, esc, 6);
        } else {
            put(w, "\xef\xbf\xbd", 3); /* invalid UTF-8 byte: U+FFFD */
        }
        i++;
        run = i;
    }
    put(w, str + run, n - run);
    putc1(w, '"');
}

void jsonw_key(struct jsonw *w, const char *key)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = true;
        return;
    }
    before_value(w);
    put_escaped(w, key, strlen(key));
    putc1(w, ':');
    w->after_key = true;
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
    before_value(w);
    put_escaped(w, s, n);
}

void jsonw_str(struct jsonw *w, const char *s)
{
    if (!s) {
        jsonw_null(w);
        return;
    }
    jsonw_strn(w, s, strlen(s));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    char num[24];
    char *p = num + sizeof(num);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    before_value(w);
    put(w, p, (size_t)(num + sizeof(num) - p));
}

void jsonw_fixed(struct jsonw *w, double v, int decimals)
{
    char num[64];
    int n;

    if (!isfinite(v) || v > 1e15 || v < -1e15 || decimals < 0 || decimals > 9) {
        w->failed = true; /* JSON has no NaN or infinity; a duration never gets here */
        return;
    }
    n = snprintf(num, sizeof(num), "%.*f", decimals, v);
    before_value(w);
    put(w, num, (size_t)n);
}

void jsonw_bool(struct jsonw *w, bool v)
{
    before_value(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void jsonw_null(struct jsonw *w)
{
    before_value(w);
    put(w, "null", 4);
}

void jsonw_kv_str(struct jsonw *w, const char *key, const char *s)
{
    jsonw_key(w, key);
    jsonw_str(w, s);
}

void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v)
{
    jsonw_key(w, key);
    jsonw_int(w, v);
}

void jsonw_kv_fixed(struct jsonw *w, const char *key, double v, int decimals)
{
    jsonw_key(w, key);
    jsonw_fixed(w, v, decimals);
}

void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
    jsonw_key(w, key);
    jsonw_bool(w, v);
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
    char *out = NULL;

    if (!w->failed && w->depth == 0 && !w->after_key && w->len > 0 && reserve(w, 1)) {
        w->buf[w->len] = '\0';
        out = w->buf;
        if (len)
            *len = w->len;
        w->buf = NULL;
    }
    jsonw_discard(w);
    return out;
}

void jsonw_discard(struct jsonw *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}
