/*
 * api_json.h - the seed's JSON shapes (SPEC §5), written in one place.
 *
 * Each function appends one JSON value to a streaming writer (util/jsonw.h);
 * handlers hand the writer to response_jsonw(). Image URLs come from
 * drawings_url() (arena strings). Pure apart from that; thread-safe.
 */
#pragma once

#include <stdint.h>

#include "db/db.h"
struct app;
#include "util/jsonw.h"

/* DrawingResponse plus the additive thumbnail_url and edits. */
void api_json_drawing(struct jsonw *w, const struct drawing *d, const struct app *app,
                      struct arena *a);

/* A drawing as a share link shows it (SPEC §11): DrawingResponse without user_id and
 * updated_at - {"id", "tutorial_id", "uploaded_image_url", "edited_images_urls",
 * "thumbnail_url", "edits", "created_at"}. */
void api_json_drawing_public(struct jsonw *w, const struct drawing *d, const struct app *app,
                             struct arena *a);

/* {"success": true, "data": [...], "count": total, "page": page, "limit": limit} */
void api_json_gallery(struct jsonw *w, const struct drawing *ds, size_t n, int64_t total,
                      int64_t page, int64_t limit, const struct app *app, struct arena *a);

/* {"success": true, "total_drawings", "edited_drawings", "tutorial_drawings"} */
void api_json_stats(struct jsonw *w, const struct drawing_stats *st);

/* {"success": true, "data": [{"id", "title", "created_at"}]} */
void api_json_tutorials(struct jsonw *w, const struct tutorial *ts, size_t n);

/* A new share link: {"success": true, "token", "url", "created_at", "expires_at"}. */
void api_json_share_created(struct jsonw *w, const struct share *sh, const struct app *app,
                            struct arena *a);

/* {"success": true, "data": [{"token", "url", "created_at", "expires_at", "views"}]} */
void api_json_shares(struct jsonw *w, const struct share *shs, size_t n, const struct app *app,
                     struct arena *a);

/* A time as the API shows it: "2025-01-25T14:30:22.123Z". */
void api_json_time(struct jsonw *w, int64_t ms);

/* "applied": the names in applied (joined by ", ", as struct edit keeps them) as an
 * array, and "ignored": the string; each null when NULL (a remote editor). SPEC §16. */
void api_json_edit_report(struct jsonw *w, const char *applied, const char *ignored);

/*
 * The gallery's offset for a 1-based page, or -1 when it is past any possible row
 * (the caller then answers an empty page without a query).
 */
int64_t api_page_offset(int64_t page, int64_t limit);
