/*
 * drawings.c - the gallery routes: get, delete, list, stats (a new drawing goes
 * through the pipeline: handlers/edits.c). Handlers only: parsing and answering;
 * the work is in src/drawings.c and the database.
 */
#include "handlers/handlers.h"

#include <string.h>

#include "api_json.h"
#include "app.h"
#include "drawings.h"

#define GALLERY_MAX_LIMIT 100
#define GALLERY_DEFAULT_LIMIT 20

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

enum err handle_drawing_get(struct request *req, struct response *res)
{
    char id[ID_UUID_LEN];
    struct drawing d;
    enum err rc = drawing_id_param(req, id);

    if (rc != ERR_OK)
        return rc;
    rc = db_drawing_get(req->app->db, req->user_id, id, req->arena, &d);
    if (rc == ERR_NOT_FOUND)
        return request_fail(req, rc, "Drawing not found");
    if (rc != ERR_OK)
        return rc;
    return respond_drawing(req, res, 200, &d);
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

enum err handle_gallery(struct request *req, struct response *res)
{
    int64_t page, limit, offset, total = 0;
    struct jsonw w;
    struct drawing *ds = NULL;
    size_t n = 0;
    enum err rc_page, rc_limit, rc;

    /* both are checked, so a client hears about every bad parameter at once */
    rc_page = request_query_int(req, "page", 1, 1, INT64_MAX, &page);
    rc_limit = request_query_int(req, "limit", GALLERY_DEFAULT_LIMIT, 1, GALLERY_MAX_LIMIT, &limit);
    if (rc_page != ERR_OK || rc_limit != ERR_OK)
        return ERR_VALIDATION;
    offset = api_page_offset(page, limit);
    if (offset >= 0) {
        rc =
            db_drawing_list(req->app->db, req->user_id, offset, limit, req->arena, &ds, &n, &total);
    } else {
        /* a page past any possible row: no rows, but the count is still true */
        struct drawing_stats st;
        rc = db_stats(req->app->db, req->user_id, &st);
        if (rc == ERR_OK)
            total = st.total_drawings;
    }
    if (rc != ERR_OK)
        return rc;
    jsonw_init(&w, 1024 + n * 1024);
    api_json_gallery(&w, ds, n, total, page, limit, req->app, req->arena);
    return response_jsonw(res, 200, &w);
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
