/*
 * media.c - GET /media/{key}: the local storage backend's objects, sent
 * zero-copy from the file. Keys are immutable (a fresh random key per object),
 * so the cache headers say so. Anything that is not a key we could have written
 * is 404 before the filesystem is touched (storage_key_valid).
 * GET /media/pending/{key}: an image storage refused (drawings.h), from the
 * database until a job stores it, then a redirect to the stored object.
 */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "drawings.h"

enum err handle_media(struct request *req, struct response *res)
{
    const char *key = req->params[0];
    struct storage_file f;
    const char *etag;
    enum err rc = storage_open_file(req->app->storage, key, &f);

    if (rc != ERR_OK)
        return request_fail(req, ERR_NOT_FOUND, "Not Found");
    etag = arena_printf(req->arena, "\"%llx-%llx\"", (unsigned long long)f.size,
                        (unsigned long long)f.mtime_ns);
    if (!etag) {
        close(f.fd);
        return ERR_NOMEM;
    }
    response_header(res, "ETag", etag);
    response_header(res, "Cache-Control", "public, max-age=31536000, immutable");
    response_header(res, "X-Content-Type-Options", "nosniff");
    /* a 304 still hands MHD the file: it sends no body, but the 200's Content-Length */
    res->status = req->if_none_match && strstr(req->if_none_match, etag) ? 304 : 200;
    res->content_type = storage_content_type(key);
    res->fd = f.fd;
    res->fd_size = f.size;
    return ERR_OK;
}

enum err handle_media_pending(struct request *req, struct response *res)
{
    const char *key = req->params[0];
    struct db_pending p;
    enum err rc;

    if (!storage_key_valid(key))
        return request_fail(req, ERR_NOT_FOUND, "Not Found");
    rc = db_pending_get(req->app->db, key, req->arena, &p);
    if (rc == ERR_NOT_FOUND) {
        /* stored since (or never kept): where it is now; no image there is a 404 */
        const char *url = drawings_url(req->app, key, false, NULL, req->arena);
        if (!url)
            return ERR_NOMEM;
        response_header(res, "Location", url);
        response_header(res, "Cache-Control", "no-store");
        res->status = 302;
        return ERR_OK;
    }
    if (rc != ERR_OK)
        return rc;
    res->body = malloc(p.len ? p.len : 1);
    if (!res->body)
        return ERR_NOMEM;
    memcpy(res->body, p.bytes, p.len);
    res->body_len = p.len;
    res->status = 200;
    res->content_type = p.content_type;
    /* the URL changes to the object's once it is stored: never cache this answer */
    response_header(res, "Cache-Control", "no-store");
    response_header(res, "X-Content-Type-Options", "nosniff");
    return ERR_OK;
}
