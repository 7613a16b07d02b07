/*
 * drawings.c - the gallery routes: get, delete, list, stats (a new drawing goes
 * through the pipeline: handlers/edits.c). Handlers only: parsing and answering;
 * the work is in src/drawings.c and the database.
 */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_json.h"
#include "app.h"
#include "body_cache.h"
#include "drawings.h"
#include "export.h"
#include "metrics.h"
#include "util/words.h"

#define GALLERY_MAX_LIMIT 100
#define GALLERY_DEFAULT_LIMIT 20
#define GALLERY_Q_MIN 1
#define GALLERY_Q_MAX 200

static enum err respond_drawing(struct request *req, struct response *res, int status,
                                const struct drawing *d)
{
    struct jsonw w;

    jsonw_init(&w, 1024);
    api_json_drawing(&w, d, req->app, req->arena);
    return response_jsonw(res, status, &w);
}

static enum err drawing_id_param(struct request *req, char out[ID_UUID_LEN])
{
    return request_uuid(req, "path", "drawing_id", req->params[0], out);
}

/*
 * Conditional GET (SPEC §11): the tag of what the user sees of `what` now, in *etag and
 * set on res with Cache-Control. The version is read before the body: a change in
 * between gives the new body the old tag, which only makes the next request fetch it
 * again, never the reverse.
 */
static enum err conditional(struct request *req, struct response *res, const char *what,
                            struct body_key *tag)
{
    enum err rc = db_user_version(req->app->db, req->user_id, &tag->version);

    if (rc != ERR_OK)
        return rc;
    tag->user_id = req->user_id;
    tag->what = what;
    tag->etag = what ? drawings_etag(req->app, req->user_id, tag->version, what, req->arena) : NULL;
    if (!tag->etag)
        return ERR_NOMEM;
    response_header(res, "ETag", tag->etag);
    response_header(res, "Cache-Control", "private, no-cache");
    return ERR_OK;
}

/* 304: no body; the validators are set. */
static enum err not_modified(struct response *res)
{
    res->status = 304;
    res->body = NULL;
    res->body_len = 0;
    res->content_type = NULL;
    return ERR_OK;
}

/* The body kept for this tag (body_cache.h), answered as 200: true if there was one. */
static bool kept(struct request *req, struct response *res, const struct body_key *tag)
{
    char *body = NULL;
    size_t len = 0;
    bool hit = body_cache_get(req->app->bodies, tag, &body, &len);

    if (req->app->bodies)
        metrics_cache("body", hit);
    if (!hit)
        return false;
    free(res->body);
    res->body = body;
    res->body_len = len;
    res->status = 200;
    res->content_type = "application/json";
    return true;
}

/* Keeps a 200's body under its tag for the next request that computes the same tag. */
static enum err keep(struct request *req, struct response *res, const struct body_key *tag,
                     enum err rc)
{
    if (rc == ERR_OK && res->status == 200 && res->body)
        body_cache_put(req->app->bodies, tag, res->body, res->body_len);
    return rc;
}

/* An error after conditional(): no validators on it. */
static enum err failed(struct response *res, enum err rc)
{
    res->n_headers = 0;
    return rc;
}

enum err handle_drawing_get(struct request *req, struct response *res)
{
    char id[ID_UUID_LEN];
    const char *inm;
    struct body_key tag = {0};
    struct drawing d;
    enum err rc = drawing_id_param(req, id);

    if (rc != ERR_OK)
        return rc;
    rc = conditional(req, res, arena_printf(req->arena, "drawing %s", id), &tag);
    if (rc != ERR_OK)
        return failed(res, rc);
    /* a tag matches only if this user saw this drawing at this version: it exists */
    if (request_etag_matches(req, tag.etag, false))
        return not_modified(res);
    inm = request_header(req, "If-None-Match");
    if ((!inm || !strchr(inm, '*')) && kept(req, res, &tag)) /* "*": answered below */
        return ERR_OK;
    rc = db_drawing_get(req->app->db, req->user_id, id, req->arena, &d);
    if (rc == ERR_NOT_FOUND)
        return failed(res, request_fail(req, rc, "Drawing not found"));
    if (rc != ERR_OK)
        return failed(res, rc);
    if (request_etag_matches(req, tag.etag, true)) /* If-None-Match: *, and it exists */
        return not_modified(res);
    return keep(req, res, &tag, respond_drawing(req, res, 200, &d));
}

enum err handle_drawing_delete(struct request *req, struct response *res)
{
    char id[ID_UUID_LEN];
    enum err rc = drawing_id_param(req, id);

    if (rc != ERR_OK)
        return rc;
    rc = drawings_delete(req->app, req->user_id, id, req->arena);
    if (rc == ERR_NOT_FOUND)
        return request_fail(req, rc, "Drawing not found");
    if (rc != ERR_OK)
        return rc;
    return response_json(res, 200,
                         json_pack("{s:b, s:s}", "success", 1, "message", "Drawing deleted"));
}

static const char *const sorts[] = {"newest", "oldest"};

/*
 * The gallery's filters (SPEC §11): tutorial_id, from, to, q, edited, sort, every bad
 * one reported at once (ERR_VALIDATION; ERR_NOMEM). The gallery's and the export's.
 */
static enum err gallery_filter_args(struct request *req, struct gallery_filter *f,
                                    char tutorial[ID_UUID_LEN])
{
    const char *raw_tutorial = request_query(req, "tutorial_id"), *q = NULL;
    size_t sort = 0;
    bool bad = false;

    *f = GALLERY_FILTER_NONE;
    if (raw_tutorial) {
        bad |= request_uuid(req, "query", "tutorial_id", raw_tutorial, tutorial) != ERR_OK;
        f->tutorial_id = tutorial;
    }
    bad |= request_query_datetime(req, "from", GALLERY_TIME_MIN, &f->from_ms) != ERR_OK;
    bad |= request_query_datetime(req, "to", GALLERY_TIME_MAX, &f->to_ms) != ERR_OK;
    if (request_query_text(req, "q", GALLERY_Q_MIN, GALLERY_Q_MAX, &q) != ERR_OK) {
        bad = true;
    } else if (q) {
        char *w = words_normalize(q, strlen(q));
        f->words = w ? arena_strdup(req->arena, w) : NULL;
        free(w);
        if (!f->words)
            return ERR_NOMEM;
        if (!*f->words) /* "!!!": nothing to search for */
            bad |= request_invalid(req, "query", "q",
                                   "Value error, q must hold a letter or a digit",
                                   "value_error") != ERR_OK;
    }
    bad |= request_query_bool(req, "edited", &f->edited) != ERR_OK;
    bad |= request_query_choice(req, "sort", sorts, 2, 0, &sort) != ERR_OK;
    f->oldest_first = sort == 1;
    return bad ? ERR_VALIDATION : ERR_OK;
}

enum err handlers_gallery_args(struct request *req, int64_t *page, int64_t *limit,
                               struct gallery_filter *f, char tutorial[ID_UUID_LEN])
{
    bool bad = false;
    enum err rc;

    bad |= request_query_int(req, "page", 1, 1, INT64_MAX, page) != ERR_OK;
    bad |= request_query_int(req, "limit", GALLERY_DEFAULT_LIMIT, 1, GALLERY_MAX_LIMIT, limit) !=
           ERR_OK;
    rc = gallery_filter_args(req, f, tutorial);
    if (rc == ERR_NOMEM)
        return rc;
    return bad || rc != ERR_OK ? ERR_VALIDATION : ERR_OK;
}

enum err handle_gallery(struct request *req, struct response *res)
{
    int64_t page = 1, limit = GALLERY_DEFAULT_LIMIT, offset, total = 0;
    char tutorial[ID_UUID_LEN];
    struct gallery_filter f;
    struct jsonw w;
    struct drawing *ds = NULL;
    size_t n = 0;
    struct body_key tag = {0};
    const char *what;
    enum err rc = handlers_gallery_args(req, &page, &limit, &f, tutorial);

    if (rc != ERR_OK)
        return rc;
    /* the normalised query: equal bodies, equal tags */
    what = arena_printf(req->arena, "gallery %lld %lld %s %lld %lld %d %d %s", (long long)page,
                        (long long)limit, f.tutorial_id ? f.tutorial_id : "-",
                        (long long)f.from_ms, (long long)f.to_ms, f.edited, (int)f.oldest_first,
                        f.words ? f.words : "");
    rc = conditional(req, res, what, &tag);
    if (rc != ERR_OK)
        return failed(res, rc);
    if (request_etag_matches(req, tag.etag, true))
        return not_modified(res);
    if (kept(req, res, &tag))
        return ERR_OK;
    offset = api_page_offset(page, limit);
    if (offset < 0) /* a page past any possible row: no rows, but the count is still true */
        offset = INT64_MAX;
    rc = db_gallery_list(req->app->db, req->user_id, &f, offset, limit, req->arena, &ds, &n, &total);
    if (rc != ERR_OK)
        return failed(res, rc);
    jsonw_init(&w, 1024 + n * 1024);
    api_json_gallery(&w, ds, n, total, page, limit, req->app, req->arena);
    return keep(req, res, &tag, response_jsonw(res, 200, &w));
}

enum err handle_stats(struct request *req, struct response *res)
{
    struct drawing_stats st;
    struct jsonw w;
    enum err rc = db_stats(req->app->db, req->user_id, &st);

    if (rc != ERR_OK)
        return rc;
    jsonw_init(&w, 128);
    api_json_stats(&w, &st);
    return response_jsonw(res, 200, &w);
}

/* ---- export (SPEC §11): the archive is export.c's; this answers with its stream ---- */

static long read_export(void *arg, char *buf, size_t max)
{
    long n = export_read(arg, buf, max);

    if (n == EXPORT_END)
        return RESPONSE_STREAM_END;
    return n == EXPORT_ERROR ? RESPONSE_STREAM_ERROR : n;
}

static void wake_stream(void *arg)
{
    response_stream_wake(arg);
}

static void release_stream(void *arg)
{
    response_stream_release(arg);
}

enum err handle_export(struct request *req, struct response *res)
{
    char tutorial[ID_UUID_LEN];
    struct gallery_filter f;
    struct export *e = NULL;
    struct response_stream *s = NULL;
    struct export_waker w;
    const char *disposition;
    time_t now = time(NULL);
    struct tm tm;
    enum err rc = gallery_filter_args(req, &f, tutorial);

    if (rc != ERR_OK)
        return rc;
    if (!gmtime_r(&now, &tm))
        return ERR_INTERNAL;
    disposition =
        arena_printf(req->arena, "attachment; filename=\"novadraw-export-%04d%02d%02d.zip\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    if (!disposition)
        return ERR_NOMEM;
    rc = export_new(req->app, req->user_id, &f, &e);
    if (rc == ERR_BUSY)
        return request_fail(req, rc, "Too many exports in progress, try again shortly");
    if (rc != ERR_OK)
        return rc;
    rc = response_stream(res, read_export, export_done, e, &s); /* on error e is freed */
    if (rc != ERR_OK)
        return rc;
    w = (struct export_waker){.wake = wake_stream, .release = release_stream, .arg = s};
    rc = export_start(e, &w); /* on error the server drops the stream, and e with it */
    if (rc != ERR_OK)
        return rc;
    res->status = 200;
    res->content_type = "application/zip";
    response_header(res, "Content-Disposition", disposition);
    response_header(res, "Cache-Control", "private, no-store");
    response_header(res, "X-Content-Type-Options", "nosniff");
    return ERR_OK;
}
