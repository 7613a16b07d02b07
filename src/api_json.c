/*
 * api_json.c - writes the API's JSON bodies from database records. No I/O;
 * image URLs come from drawings_url(). Thread-safe.
 */
#include "api_json.h"

#include <string.h>

#include "drawings.h"
#include "shares.h"
#include "util/timefmt.h"

void api_json_time(struct jsonw *w, int64_t ms)
{
    char iso[TIMEFMT_ISO_LEN];
    timefmt_iso(ms, iso);
    jsonw_strn(w, iso, TIMEFMT_ISO_LEN - 1);
}

/* The image's URL, or null (no key, or a key the backend will not show). */
static void url(struct jsonw *w, const struct app *app, const char *key, bool pending,
                struct arena *a)
{
    jsonw_str(w, drawings_url(app, key, pending, NULL, a));
}

/* A drawing; owner: with user_id and updated_at (DrawingResponse), else only the
 * fields a share link shows (SPEC §11), nothing about who owns it. */
static void drawing(struct jsonw *w, const struct drawing *d, bool owner, const struct app *s,
                    struct arena *a)
{
    jsonw_obj_begin(w);
    jsonw_kv_str(w, "id", d->id);
    if (owner)
        jsonw_kv_str(w, "user_id", d->user_id);
    jsonw_kv_str(w, "tutorial_id", d->tutorial_id);
    jsonw_key(w, "uploaded_image_url");
    url(w, s, d->original_key, d->original_pending, a);
    jsonw_key(w, "edited_images_urls");
    jsonw_arr_begin(w);
    for (size_t i = 0; i < d->n_edits; i++)
        url(w, s, d->edits[i].image_key, d->edits[i].image_pending, a);
    jsonw_arr_end(w);
    jsonw_key(w, "created_at");
    api_json_time(w, d->created_at);
    if (owner) {
        jsonw_key(w, "updated_at");
        api_json_time(w, d->updated_at);
    }
    jsonw_key(w, "thumbnail_url");
    url(w, s, d->thumbnail_key, d->thumbnail_pending, a);
    jsonw_key(w, "edits");
    jsonw_arr_begin(w);
    for (size_t i = 0; i < d->n_edits; i++) {
        const struct edit *e = &d->edits[i];
        jsonw_obj_begin(w);
        jsonw_key(w, "url");
        url(w, s, e->image_key, e->image_pending, a);
        jsonw_key(w, "thumbnail_url");
        url(w, s, e->thumbnail_key, e->thumbnail_pending, a);
        jsonw_kv_str(w, "prompt", e->prompt);
        jsonw_kv_str(w, "source", e->source);
        api_json_edit_report(w, e->applied, e->ignored);
        jsonw_key(w, "created_at");
        api_json_time(w, e->created_at);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
    jsonw_obj_end(w);
}

void api_json_drawing(struct jsonw *w, const struct drawing *d, const struct app *s,
                      struct arena *a)
{
    drawing(w, d, true, s, a);
}

void api_json_drawing_public(struct jsonw *w, const struct drawing *d, const struct app *s,
                             struct arena *a)
{
    drawing(w, d, false, s, a);
}

/* The seed's list envelope: {"success": true, "data": [ ... (the caller closes the
 * array, adds what follows it, and closes the object) */
static void list_begin(struct jsonw *w)
{
    jsonw_obj_begin(w);
    jsonw_kv_bool(w, "success", true);
    jsonw_key(w, "data");
    jsonw_arr_begin(w);
}

void api_json_gallery(struct jsonw *w, const struct drawing *ds, size_t n, int64_t total,
                      int64_t page, int64_t limit, const struct app *s, struct arena *a)
{
    list_begin(w);
    for (size_t i = 0; i < n; i++)
        api_json_drawing(w, &ds[i], s, a);
    jsonw_arr_end(w);
    jsonw_kv_int(w, "count", total);
    jsonw_kv_int(w, "page", page);
    jsonw_kv_int(w, "limit", limit);
    jsonw_obj_end(w);
}

void api_json_stats(struct jsonw *w, const struct drawing_stats *st)
{
    jsonw_obj_begin(w);
    jsonw_kv_bool(w, "success", true);
    jsonw_kv_int(w, "total_drawings", st->total_drawings);
    jsonw_kv_int(w, "edited_drawings", st->edited_drawings);
    jsonw_kv_int(w, "tutorial_drawings", st->tutorial_drawings);
    jsonw_obj_end(w);
}

void api_json_tutorials(struct jsonw *w, const struct tutorial *ts, size_t n)
{
    list_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(w);
        jsonw_kv_str(w, "id", ts[i].id);
        jsonw_kv_str(w, "title", ts[i].title);
        jsonw_key(w, "created_at");
        api_json_time(w, ts[i].created_at);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
    jsonw_obj_end(w);
}

int64_t api_page_offset(int64_t page, int64_t limit)
{
    if (page < 1 || limit < 1)
        return -1;
    if (page - 1 > (INT64_MAX / limit))
        return -1;
    return (page - 1) * limit;
}

/* "token", "url", "created_at", "expires_at" of a link, inside its object. */
static void share_fields(struct jsonw *w, const struct share *sh, const struct app *s,
                         struct arena *a)
{
    jsonw_kv_str(w, "token", sh->token);
    jsonw_kv_str(w, "url", shares_url(s, sh->token, a));
    jsonw_key(w, "created_at");
    api_json_time(w, sh->created_at);
    jsonw_key(w, "expires_at");
    if (sh->expires)
        api_json_time(w, sh->expires_at);
    else
        jsonw_null(w);
}

void api_json_share_created(struct jsonw *w, const struct share *sh, const struct app *s,
                            struct arena *a)
{
    jsonw_obj_begin(w);
    jsonw_kv_bool(w, "success", true);
    share_fields(w, sh, s, a);
    jsonw_obj_end(w);
}

void api_json_shares(struct jsonw *w, const struct share *shs, size_t n, const struct app *s,
                     struct arena *a)
{
    list_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(w);
        share_fields(w, &shs[i], s, a);
        jsonw_kv_int(w, "views", shs[i].views);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
    jsonw_obj_end(w);
}

void api_json_edit_report(struct jsonw *w, const char *applied, const char *ignored)
{
    jsonw_key(w, "applied");
    if (!applied) {
        jsonw_null(w);
    } else {
        jsonw_arr_begin(w);
        for (const char *p = applied; *p;) {
            const char *end = strstr(p, ", ");
            size_t n = end ? (size_t)(end - p) : strlen(p);

            jsonw_strn(w, p, n);
            p += n;
            if (end)
                p += 2;
        }
        jsonw_arr_end(w);
    }
    jsonw_kv_str(w, "ignored", ignored);
}
