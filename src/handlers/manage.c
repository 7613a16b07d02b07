/*
 * manage.c - managing the gallery (SPEC §11): GET /api/drawings/{id}/download (one
 * image of a drawing as an attachment) and POST /api/drawings/bulk-delete. Handlers
 * only: the reading and deleting are drawings.c's, the ownership check the database's.
 * A download from local storage is sent zero-copy from the file; otherwise (S3, or an
 * image still pending) the answer is deferred and written by the read's callback, so
 * no HTTP thread waits on storage.
 */
#include "handlers/handlers.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "drawings.h"
#include "util/jsonw.h"

#define BULK_DELETE_MAX 100
#define EDIT_NUMBER_MAX INT32_MAX

/* ---- download ---------------------------------------------------------------------- */

/* What the read's callback needs to answer; lives in the request's arena. */
struct download {
    struct request *req;
    struct response *res;
};

/* The image's bytes arrived (S3: on the HTTP client's thread): answer, and resume. */
static void on_download(void *arg, enum err rc, void *png, size_t len)
{
    struct download *dl = arg;
    struct request *req = dl->req;
    struct response *res = dl->res;

    if (rc == ERR_OK) {
        res->body = png; /* malloc'd: MHD frees it */
        res->body_len = len;
        res->status = 200;
        res->content_type = "image/png";
    } else {
        if (rc == ERR_UNAVAILABLE)
            request_fail(req, rc, "Storage unavailable");
        response_error(req, res, rc);
    }
    request_resume(req);
}

/* ?edit=: absent is the original (0), "latest" the last edit, else an edit's number. */
static enum err edit_param(struct request *req, int64_t *which)
{
    const char *raw = request_query(req, "edit");

    if (raw && strcmp(raw, "latest") == 0) {
        *which = DRAWINGS_EDIT_LATEST;
        return ERR_OK;
    }
    return request_query_int(req, "edit", 0, 1, EDIT_NUMBER_MAX, which);
}

enum err handle_drawing_download(struct request *req, struct response *res)
{
    char id[ID_UUID_LEN];
    struct drawing_image img;
    struct storage_file f;
    struct download *dl;
    const char *why = NULL, *disposition;
    int64_t which = 0;
    enum err rc_id, rc_edit, rc;

    /* both are checked, so a client hears about every bad parameter at once */
    rc_id = request_uuid(req, "path", "drawing_id", req->params[0], id);
    rc_edit = edit_param(req, &which);
    if (rc_id != ERR_OK || rc_edit != ERR_OK)
        return ERR_VALIDATION;
    rc = drawings_image_find(req->app, req->user_id, id, which, req->arena, &img, &why);
    if (rc != ERR_OK)
        return why ? request_fail(req, rc, why) : rc;
    if (img.number == 0)
        disposition = arena_printf(req->arena, "attachment; filename=\"drawing-%s-original.png\"", id);
    else
        disposition = arena_printf(req->arena, "attachment; filename=\"drawing-%s-edit-%lld.png\"",
                                   id, (long long)img.number);
    if (!disposition)
        return ERR_NOMEM;
    response_header(res, "Content-Disposition", disposition);
    response_header(res, "Cache-Control", "private, no-cache");
    response_header(res, "X-Content-Type-Options", "nosniff");

    if (drawings_image_file(req->app, &img, &f) == ERR_OK) {
        res->status = 200;
        res->content_type = "image/png";
        res->fd = f.fd; /* MHD sends it from the file and closes it */
        res->fd_size = f.size;
        return ERR_OK;
    }
    /* S3, or pending: read it, and answer when it is in */
    dl = arena_alloc(req->arena, sizeof(*dl));
    if (!dl)
        return ERR_NOMEM;
    dl->req = req;
    dl->res = res;
    request_defer(req);
    rc = drawings_image_read(req->app, &img, on_download, dl);
    if (rc == ERR_UNAVAILABLE)
        return request_fail(req, rc, "Storage unavailable");
    return rc;
}

/* ---- bulk delete ------------------------------------------------------------------- */

/* A 422 entry at ["body", "ids"] (or ["body", "ids", index] when index >= 0). */
static enum err ids_invalid(struct request *req, long long index, const char *type,
                            const char *msg, json_t *input, json_t *ctx)
{
    json_t *loc = index >= 0 ? json_pack("[s,s,I]", "body", "ids", (json_int_t)index)
                             : json_pack("[s,s]", "body", "ids");
    json_t *e = json_pack("{s:s, s:o*, s:s, s:O*}", "type", type, "loc", loc, "msg", msg, "input",
                          input);

    if (e && ctx)
        json_object_set_new(e, "ctx", ctx);
    else
        json_decref(ctx);
    return request_invalid_entry(req, e);
}

/* The ids of the body {"ids": [UUID, ...]} as pydantic's conlist(UUID, min_length=1,
 * max_length=100) reads them: canonical, in request order, each once (*n of them, in
 * the arena). Extra fields are ignored. */
static enum err body_ids(struct request *req, json_t *body, const char ***out, size_t *n)
{
    json_t *ids = json_object_get(body, "ids"), *v;
    const char **list;
    size_t count, k = 0, i;
    enum err rc = ERR_OK;
    char msg[96];

    if (!ids)
        return ids_invalid(req, -1, "missing", "Field required", body, NULL);
    if (!json_is_array(ids))
        return ids_invalid(req, -1, "list_type", "Input should be a valid list", ids, NULL);
    count = json_array_size(ids);
    if (count < 1 || count > BULK_DELETE_MAX) {
        /* a long list is not echoed back */
        snprintf(msg, sizeof(msg), "List should have %s %d item%s after validation, not %zu",
                 count < 1 ? "at least" : "at most", count < 1 ? 1 : BULK_DELETE_MAX,
                 count < 1 ? "" : "s", count);
        return ids_invalid(req, -1, count < 1 ? "too_short" : "too_long", msg,
                           count < 1 ? ids : NULL,
                           json_pack("{s:s, s:i, s:I}", "field_type", "List",
                                     count < 1 ? "min_length" : "max_length",
                                     count < 1 ? 1 : BULK_DELETE_MAX, "actual_length",
                                     (json_int_t)count));
    }
    list = arena_alloc(req->arena, count * sizeof(*list));
    if (!list)
        return ERR_NOMEM;
    json_array_foreach(ids, i, v)
    {
        char id[ID_UUID_LEN];
        bool seen = false;

        if (!json_is_string(v)) {
            rc = ids_invalid(req, (long long)i, "uuid_type",
                             "UUID input should be a string, bytes or UUID object", v, NULL);
            continue;
        }
        if (!id_uuid_parse(json_string_value(v), json_string_length(v), id)) {
            rc = ids_invalid(req, (long long)i, "uuid_parsing", "Input should be a valid UUID", v,
                             NULL);
            continue;
        }
        for (size_t j = 0; j < k && !seen; j++)
            seen = strcmp(list[j], id) == 0;
        if (seen)
            continue;
        list[k] = arena_strdup(req->arena, id);
        if (!list[k])
            return ERR_NOMEM;
        k++;
    }
    if (rc != ERR_OK)
        return rc;
    *out = list;
    *n = k;
    return ERR_OK;
}

enum err handle_drawings_bulk_delete(struct request *req, struct response *res)
{
    json_t *body = NULL;
    const char **ids = NULL;
    bool *deleted;
    size_t n = 0;
    struct jsonw w;
    enum err rc = request_json_body(req, &body);

    if (rc != ERR_OK)
        return rc;
    rc = body_ids(req, body, &ids, &n);
    json_decref(body);
    if (rc != ERR_OK)
        return rc;
    deleted = arena_alloc(req->arena, n * sizeof(*deleted));
    if (!deleted)
        return ERR_NOMEM;
    rc = drawings_delete_many(req->app, req->user_id, ids, n, req->arena, deleted);
    if (rc != ERR_OK)
        return rc;
    jsonw_init(&w, 128 + n * (ID_UUID_LEN + 3));
    jsonw_obj_begin(&w);
    jsonw_kv_bool(&w, "success", true);
    for (int pass = 0; pass < 2; pass++) {
        jsonw_key(&w, pass == 0 ? "deleted" : "not_found");
        jsonw_arr_begin(&w);
        for (size_t i = 0; i < n; i++) {
            if (deleted[i] == (pass == 0))
                jsonw_str(&w, ids[i]);
        }
        jsonw_arr_end(&w);
    }
    jsonw_obj_end(&w);
    return response_jsonw(res, 200, &w);
}
