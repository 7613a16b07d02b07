/*
 * html.c - HTML escaping (html.h). Pure and thread-safe.
 */
#include "util/html.h"

#include <string.h>

bool html_escape(struct buf *b, const char *s)
{
    const char *run = s;

    if (!s)
        return !b->failed;
    for (; *s; s++) {
        const char *ref;

        switch (*s) {
        case '&':
            ref = "&amp;";
            break;
        case '<':
            ref = "&lt;";
            break;
        case '>':
            ref = "&gt;";
            break;
        case '"':
            ref = "&quot;";
            break;
        case '\'':
            ref = "&#39;";
            break;
        default:
            continue;
        }
        buf_add(b, run, (size_t)(s - run));
        buf_str(b, ref);
        run = s + 1;
    }
    buf_add(b, run, (size_t)(s - run));
    return !b->failed;
}
