/*
 * shares.c - share links (SPEC §11): create, list and revoke (the owner's, with a
 * bearer token) and the two public views of a link, its JSON and its HTML page (no
 * token). Handlers only: the tokens and their checks are in src/shares.c, the page
 * in src/share_page.c, the JSON in src/api_json.c.
 */
#include "handlers/handlers.h"

#include <stdlib.h>

#include "api_json.h"
#include "app.h"
#include "share_page.h"
#include "shares.h"

#define SHARE_NOT_FOUND "Share link not found"

static enum err drawing_id_param(struct request *req, char out[ID_UUID_LEN])
{
    return request_uuid(req, "path", "drawing_id", req->params[0], out);
}

/* The optional body {"expires_in": SECONDS}: none, an empty body or null is no
 * expiry (0). */
static enum err expires_in_param(struct request *req, int64_t *out)
{
    json_t *body = NULL;
    bool present = false;
    enum err rc;

    *out = 0;
    if (req->body_len == 0)
        return ERR_OK;
    rc = request_json_body(req, &body);
    if (rc == ERR_OK)
        rc = request_body_int(req, body, "expires_in", SHARES_EXPIRES_MIN, SHARES_EXPIRES_MAX, out,
                              &present);
    json_decref(body);
    if (rc == ERR_OK && !present)
        *out = 0;
    return rc;
}

enum err handle_share_create(struct request *req, struct response *res)
{
    char id[ID_UUID_LEN];
    int64_t expires_in = 0;
    struct share s;
    struct jsonw w;
    enum err rc_id, rc;

    /* both are checked, so a client hears about every bad part at once */
    rc_id = drawing_id_param(req, id);
    rc = expires_in_param(req, &expires_in);
    if (rc_id != ERR_OK || rc != ERR_OK)
        return ERR_VALIDATION;
    rc = shares_create(req->app, req->user_id, id, expires_in, req->arena, &s);
    if (rc == ERR_NOT_FOUND)
        return request_fail(req, rc, "Drawing not found");
    if (rc != ERR_OK)
        return rc;
    jsonw_init(&w, 256);
    api_json_share_created(&w, &s, req->app, req->arena);
    rc = response_jsonw(res, 201, &w);
    if (rc == ERR_OK) /* the new link, as the API reads it */
        response_header(res, "Location", arena_printf(req->arena, "/api/shared/%s", s.token));
    return rc;
}

enum err handle_share_list(struct request *req, struct response *res)
{
    char id[ID_UUID_LEN];
    struct share *list = NULL;
    size_t n = 0;
    struct jsonw w;
    enum err rc = drawing_id_param(req, id);

    if (rc != ERR_OK)
        return rc;
    rc = db_share_list(req->app->db, req->user_id, id, req->arena, &list, &n);
    if (rc == ERR_NOT_FOUND)
        return request_fail(req, rc, "Drawing not found");
    if (rc != ERR_OK)
        return rc;
    jsonw_init(&w, 128 + n * 256);
    api_json_shares(&w, list, n, req->app, req->arena);
    return response_jsonw(res, 200, &w);
}

enum err handle_share_revoke(struct request *req, struct response *res)
{
    enum err rc = shares_revoke(req->app, req->user_id, req->params[0]);

    if (rc == ERR_NOT_FOUND)
        return request_fail(req, rc, SHARE_NOT_FOUND);
    if (rc != ERR_OK)
        return rc;
    return response_json(res, 200,
                         json_pack("{s:b, s:s}", "success", 1, "message", "Share revoked"));
}

/* What every public answer carries: never cached (a revoked link must stop working,
 * a presigned URL expires), and no Referer with the token in it to the image host. */
static void public_headers(struct response *res)
{
    response_header(res, "Cache-Control", "no-store");
    response_header(res, "Referrer-Policy", "no-referrer");
    response_header(res, "X-Content-Type-Options", "nosniff");
}

enum err handle_shared_get(struct request *req, struct response *res)
{
    struct drawing d;
    struct jsonw w;
    enum err rc = shares_open(req->app, req->params[0], req->arena, &d);

    if (rc == ERR_NOT_FOUND)
        return request_fail(req, rc, SHARE_NOT_FOUND);
    if (rc != ERR_OK)
        return rc;
    jsonw_init(&w, 1024);
    api_json_drawing_public(&w, &d, req->app, req->arena);
    rc = response_jsonw(res, 200, &w);
    if (rc == ERR_OK)
        public_headers(res);
    return rc;
}

enum err handle_share_page(struct request *req, struct response *res)
{
    const char *token = req->params[0];
    struct drawing d;
    const char *url;
    size_t len = 0;
    char *html;
    int status = 200;
    const char *csp;
    enum err rc = shares_open(req->app, token, req->arena, &d);

    if (rc == ERR_OK) {
        url = shares_url(req->app, token, req->arena);
        html = url ? share_page_html(req->app, &d, url, req->arena, &len) : NULL;
    } else if (rc == ERR_NOT_FOUND) {
        status = 404;
        html = share_page_not_found(&len);
    } else {
        return rc;
    }
    if (!html)
        return ERR_NOMEM;
    free(res->body);
    res->body = html;
    res->body_len = len;
    res->status = status;
    res->content_type = "text/html; charset=utf-8";
    public_headers(res);
    csp = web_csp(req);
    if (!csp)
        return ERR_NOMEM;
    response_header(res, "Content-Security-Policy", csp);
    return ERR_OK;
}
