/*
 * share_page.c - the public page of a share link (share_page.h). Written into a
 * struct buf with every value escaped at the one place it is interpolated. Pure
 * apart from drawings_url(); thread-safe.
 */
#include "share_page.h"

#include <string.h>

#include "drawings.h"
#include "http/assets.h"
#include "util/buf.h"
#include "util/html.h"

#define TITLE_MAX 90           /* code points of a prompt in the title and card */
#define PAGE_MAX (1024 * 1024) /* far above any page: a prompt is at most 1000 characters */

/* The look (and the slider, web/share.js) come from the web app's embedded assets
 * (http/assets.h), under their versioned folder: same origin, immutable, no inline
 * style or script, so the page's CSP can forbid both. */
static void style(struct buf *b)
{
    buf_str(b, "<link rel=\"icon\" href=\"");
    buf_str(b, assets_folder);
    buf_str(b, "favicon.svg\" type=\"image/svg+xml\">\n<link rel=\"stylesheet\" href=\"");
    buf_str(b, assets_folder);
    buf_str(b, "app.css\">\n<link rel=\"stylesheet\" href=\"");
    buf_str(b, assets_folder);
    buf_str(b, "share.css\">\n");
}

static void script(struct buf *b)
{
    buf_str(b, "<script type=\"module\" src=\"");
    buf_str(b, assets_folder);
    buf_str(b, "share.js\"></script>\n");
}

static const char head_open[] = "<!doctype html>\n<html lang=\"en\">\n<head>\n"
                                "<meta charset=\"utf-8\">\n"
                                "<meta name=\"viewport\" content=\"width=device-width, "
                                "initial-scale=1\">\n"
                                "<meta name=\"referrer\" content=\"no-referrer\">\n"
                                "<meta name=\"robots\" content=\"noindex\">\n";

/* The drawing's latest edit, or NULL. */
static const struct edit *latest(const struct drawing *d)
{
    return d->n_edits > 0 ? &d->edits[d->n_edits - 1] : NULL;
}

char *share_page_title(const struct drawing *d, size_t max, struct arena *a)
{
    const struct edit *e = latest(d);
    const char *p;
    size_t chars = 0, i;

    if (!e || !e->prompt || !*e->prompt)
        return arena_strdup(a, "A drawing on NovaDraw");
    p = e->prompt;
    /* a code point starts at every byte that is not a UTF-8 continuation byte */
    for (i = 0; p[i]; i++) {
        if (((unsigned char)p[i] & 0xc0) != 0x80 && chars++ == max)
            break;
    }
    if (!p[i])
        return arena_strdup(a, p);
    return arena_printf(a, "%.*s\u2026", (int)i, p);
}

/* <meta {attr}="{name}" content="{value}">, the value escaped. */
static void meta(struct buf *b, const char *attr, const char *name, const char *value)
{
    buf_str(b, "<meta ");
    buf_str(b, attr);
    buf_str(b, "=\"");
    buf_str(b, name);
    buf_str(b, "\" content=\"");
    html_escape(b, value);
    buf_str(b, "\">\n");
}

/* One labelled image of the pair. */
static void figure(struct buf *b, const char *url, const char *label, const char *caption,
                   const char *alt)
{
    buf_str(b, "<figure><img src=\"");
    html_escape(b, url);
    buf_str(b, "\" alt=\"");
    html_escape(b, alt);
    buf_str(b, "\" loading=\"eager\" decoding=\"async\"><figcaption><b>");
    html_escape(b, label);
    buf_str(b, "</b>");
    html_escape(b, caption);
    buf_str(b, "</figcaption></figure>\n");
}

static bool is_http_url(const char *u)
{
    return u && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0);
}

static char *finish(struct buf *b, size_t *len)
{
    size_t n = b->len;
    char *text = buf_take(b);

    if (text)
        *len = n;
    return text;
}

char *share_page_html(const struct app *app, const struct drawing *d, const char *page_url,
                      struct arena *a, size_t *len)
{
    struct buf b = {.max = PAGE_MAX};
    const struct edit *e = latest(d);
    const char *title = share_page_title(d, TITLE_MAX, a);
    const char *orig = drawings_url(app, d->original_key, d->original_pending, NULL, a);
    const char *after = e ? drawings_url(app, e->image_key, e->image_pending, NULL, a) : NULL;
    const char *image = is_http_url(after) || !is_http_url(orig) ? after : orig;
    const char *desc = e ? "Before and after, edited with NovaDraw." : "Drawn with NovaDraw.";

    if (!title || !orig || (e && !after))
        return NULL;
    if (!image)
        image = orig;
    buf_str(&b, head_open);
    buf_str(&b, "<title>");
    html_escape(&b, title);
    buf_str(&b, " \u00b7 NovaDraw</title>\n");
    meta(&b, "property", "og:type", "website");
    meta(&b, "property", "og:site_name", "NovaDraw");
    meta(&b, "property", "og:title", title);
    meta(&b, "property", "og:description", desc);
    meta(&b, "property", "og:image", image);
    meta(&b, "property", "og:url", page_url);
    meta(&b, "name", "twitter:card", "summary_large_image");
    meta(&b, "name", "twitter:title", title);
    meta(&b, "name", "twitter:image", image);
    meta(&b, "name", "description", desc);
    style(&b);
    script(&b);
    buf_str(&b, "</head>\n<body>\n<main>\n<header><span class=\"brand\">NovaDraw</span><h1>");
    html_escape(&b, title);
    buf_str(&b, "</h1></header>\n<div class=\"pair\">\n");
    if (e) {
        figure(&b, orig, "Before", "the original drawing", "The original drawing");
        figure(&b, after, "After", e->prompt, "The drawing after its latest edit");
    } else {
        figure(&b, orig, "Drawing", "", "The shared drawing");
    }
    buf_str(&b, "</div>\n<footer>Shared with a link from NovaDraw.</footer>\n"
                "</main>\n</body>\n</html>\n");
    return finish(&b, len);
}

char *share_page_not_found(size_t *len)
{
    struct buf b = {.max = PAGE_MAX};

    buf_str(&b, head_open);
    buf_str(&b, "<title>Share link not found \u00b7 NovaDraw</title>\n");
    style(&b);
    buf_str(&b, "</head>\n<body>\n<main class=\"gone\">\n<p class=\"brand\">NovaDraw</p>\n"
                "<h1>Share link not found</h1>\n"
                "<p>This link was revoked, has expired, or never existed.</p>\n"
                "</main>\n</body>\n</html>\n");
    return finish(&b, len);
}
