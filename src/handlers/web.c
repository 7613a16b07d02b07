/*
 * web.c - the files compiled into the binary (http/assets.h): the web app at GET /
 * and /assets/HASH/..., the OpenAPI document at /openapi.json, Swagger UI at /docs
 * (SPEC §13, §14). No token. Bodies are sent from the static table, gzip'd when the
 * client accepts it and a copy was worth making; a matching If-None-Match is 304.
 * Every answer carries the CSP of §13 (web_csp()). Thread-safe.
 */
#include "handlers/handlers.h"

#include <string.h>

#include "app.h"
#include "config.h"
#include "http/assets.h"

/* The scheme://host[:port] of an absolute http(s) URL, in the arena; NULL if none. */
static const char *origin_of(const char *url, struct arena *a)
{
    const char *host, *end;

    if (!url)
        return NULL;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return NULL;
    end = host + strcspn(host, "/?#");
    if (end == host || memchr(host, ' ', (size_t)(end - host)) ||
        memchr(host, ';', (size_t)(end - host)))
        return NULL;
    return arena_strndup(a, url, (size_t)(end - url));
}

const char *web_csp(struct request *req)
{
    const struct config *cfg = req->app->cfg;
    const char *self = origin_of(cfg->public_base_url, req->arena);
    const char *pub = NULL, *endpoint = NULL;

    if (cfg->storage_kind == STORAGE_S3) {
        pub = origin_of(cfg->spaces_public_url, req->arena);
        endpoint = origin_of(cfg->storage_endpoint_url, req->arena);
    }
    /* images come from this server's public URL, the storage's public origin, or its
     * endpoint (presigned URLs); nothing inline runs, nothing frames us */
    return arena_printf(req->arena,
                        "default-src 'self'; script-src 'self'; style-src 'self'; "
                        "img-src 'self' data: blob:%s%s%s%s%s%s; media-src 'self' blob:; "
                        "connect-src 'self'; object-src 'none'; base-uri 'none'; "
                        "form-action 'self'; frame-ancestors 'none'",
                        self ? " " : "", self ? self : "", pub ? " " : "", pub ? pub : "",
                        endpoint ? " " : "", endpoint ? endpoint : "");
}

/* The asset at path, with its caching, encoding and security headers. */
static enum err serve(struct request *req, struct response *res, const char *path)
{
    const struct asset *a = assets_find(path);
    const char *csp;
    bool gz;

    if (!a)
        return request_fail(req, ERR_NOT_FOUND, "Not Found");
    csp = web_csp(req);
    if (!csp)
        return ERR_NOMEM;
    gz = a->gz && assets_accepts_gzip(request_header(req, "Accept-Encoding"));
    res->content_type = a->content_type;
    response_header(res, "ETag", a->etag);
    response_header(res, "Cache-Control",
                    a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    if (a->gz)
        response_header(res, "Vary", "Accept-Encoding");
    response_header(res, "X-Content-Type-Options", "nosniff");
    response_header(res, "Content-Security-Policy", csp);
    response_header(res, "Referrer-Policy", "no-referrer");
    if (request_etag_matches(req, a->etag, true)) {
        res->status = 304;
        return ERR_OK;
    }
    if (gz)
        response_header(res, "Content-Encoding", "gzip");
    res->status = 200;
    res->body_static = gz ? a->gz : a->data;
    res->body_len = gz ? a->gz_size : a->size;
    return ERR_OK;
}

enum err handle_web_index(struct request *req, struct response *res)
{
    return serve(req, res, "/");
}

enum err handle_web_asset(struct request *req, struct response *res)
{
    return serve(req, res, req->path);
}

enum err handle_openapi(struct request *req, struct response *res)
{
    return serve(req, res, "/openapi.json");
}

enum err handle_docs(struct request *req, struct response *res)
{
    return serve(req, res, "/docs/index.html");
}
