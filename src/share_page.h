/*
 * share_page.h - the HTML of GET /s/{token} (SPEC §11): a small self-contained page
 * (the web app's own stylesheet and share.js from this server, nothing inline, nothing
 * from elsewhere but the drawing's own images) showing a shared drawing before and
 * after its latest edit (a slider with share.js, side by side without it), with the Open Graph and
 * Twitter card tags that make chat and social apps show a preview.
 *
 * Every interpolated value goes through html_escape (util/html.h). Nothing about
 * the owner is written. Image URLs come from drawings_url() (absolute: the storage's
 * or PUBLIC_BASE_URL's; presigned with STORAGE_ACL=private).
 *
 * Ownership: the returned text is malloc'd, the caller's (a response body). Pure
 * apart from drawings_url(); thread-safe.
 */
#pragma once

#include <stddef.h>

#include "app.h"
#include "db/db.h"

/* The page of drawing d shared at page_url; NULL for no memory. *len gets its length. */
char *share_page_html(const struct app *app, const struct drawing *d, const char *page_url,
                      struct arena *a, size_t *len);

/* The page of a link that does not exist (any more): malloc'd; NULL for no memory. */
char *share_page_not_found(size_t *len);

/* The title the page and its card show: the latest edit's prompt, cut to at most
 * max code points on a character boundary (with "…" when cut), or a fixed title for
 * a drawing without edits. In the arena; NULL for no memory. */
char *share_page_title(const struct drawing *d, size_t max, struct arena *a);
