/*
 * words.c - splitting text into the search's words (words.h), over GLib's Unicode
 * tables (normalisation, general categories, case folding), which libvips already
 * brings into the process. The one includer of glib.h outside imaging/.
 *
 * Pure; thread-safe (GLib's Unicode functions keep no state).
 */
#include "util/words.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

static bool is_word_start(gunichar c)
{
    return g_unichar_isalnum(c); /* L* and N* */
}

static bool is_word_mark(gunichar c)
{
    GUnicodeType t = g_unichar_type(c);

    return t == G_UNICODE_NON_SPACING_MARK || t == G_UNICODE_SPACING_MARK ||
           t == G_UNICODE_ENCLOSING_MARK;
}

/* Appends the case-folded word w (n bytes) to out (at *k), cut to WORDS_MAX_BYTES. */
static bool append_word(char *out, size_t *k, size_t cap, const char *w, size_t n)
{
    gchar *folded = g_utf8_casefold(w, (gssize)n);
    size_t len, cut;

    if (!folded)
        return false;
    len = strlen(folded);
    cut = len;
    if (cut > WORDS_MAX_BYTES) {
        cut = WORDS_MAX_BYTES;
        while (cut > 0 && ((unsigned char)folded[cut] & 0xc0) == 0x80)
            cut--; /* back to the start of the character cut through */
    }
    if (*k + (*k ? 1 : 0) + cut + 1 > cap) {
        g_free(folded);
        return false; /* cannot happen: cap is sized for the worst case */
    }
    if (*k)
        out[(*k)++] = ' ';
    memcpy(out + *k, folded, cut);
    *k += cut;
    out[*k] = '\0';
    g_free(folded);
    return true;
}

char *words_normalize(const char *text, size_t len)
{
    gchar *valid = NULL, *norm = NULL;
    char *out = NULL;
    size_t k = 0, cap;
    const char *p, *end, *start = NULL;

    if (!text)
        return NULL;
    /* ill-formed sequences become U+FFFD (a separator) before anything else reads it */
    valid = g_utf8_make_valid(text, (gssize)len);
    if (!valid)
        goto out;
    norm = g_utf8_normalize(valid, -1, G_NORMALIZE_NFKC);
    if (!norm)
        goto out;
    /* case folding grows a character to at most 3 code points of at most 4 bytes */
    cap = strlen(norm) * 12 + 1;
    out = malloc(cap);
    if (!out)
        goto out;
    out[0] = '\0';
    p = norm;
    end = norm + strlen(norm);
    while (p < end) {
        gunichar c = g_utf8_get_char(p);
        const char *next = g_utf8_next_char(p);

        if (start ? (is_word_start(c) || is_word_mark(c)) : is_word_start(c)) {
            if (!start)
                start = p;
        } else if (start) {
            if (!append_word(out, &k, cap, start, (size_t)(p - start)))
                goto fail;
            start = NULL;
        }
        p = next;
    }
    if (start && !append_word(out, &k, cap, start, (size_t)(end - start)))
        goto fail;
    goto out;
fail:
    free(out);
    out = NULL;
out:
    g_free(valid);
    g_free(norm);
    return out;
}
