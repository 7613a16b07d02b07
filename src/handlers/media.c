/*
 * media.c - GET /media/{key}: the local storage backend's objects, sent
 * zero-copy from the file. Keys are immutable (a fresh random key per object),
 * so the cache headers say so. Anything that is not a key we could have written
 * is 404 before the filesystem is touched (storage_key_valid).
 * GET /media/pending/{key}: an image storage refused (drawings.h), from the
 * database until a job stores it, then a redirect to the stored object.
 * Both take one byte range (Range: bytes=…): 206 with Content-Range, 416 when it
 * lies past the end; If-Range with another ETag, or several ranges, get the whole.
 */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "drawings.h"
#include "http/range.h"

/* The range of size bytes to send; fills res's status and headers for 206 and 416
 * (416: the JSON detail, and the caller drops its body). etag: NULL when there is
 * none, so an If-Range can never match. */
static enum range_result media_range(struct request *req, struct response *res, const char *etag,
                                     uint64_t size, uint64_t *first, uint64_t *last)
{
    enum range_result r = RANGE_FULL;

    response_header(res, "Accept-Ranges", "bytes");
    if (!req->if_range || (etag && strcmp(req->if_range, etag) == 0))
        r = range_parse(req->range, size, first, last);
    if (r == RANGE_PARTIAL) {
        res->status = 206;
        response_header(res, "Content-Range",
                        arena_printf(req->arena, "bytes %llu-%llu/%llu", (unsigned long long)*first,
                                     (unsigned long long)*last, (unsigned long long)size));
    } else if (r == RANGE_UNSATISFIABLE) {
        response_header(res, "Content-Range",
                        arena_printf(req->arena, "bytes */%llu", (unsigned long long)size));
    }
    return r;
}

enum err handle_media(struct request *req, struct response *res)
{
    const char *key = req->params[0];
    struct storage_file f;
    const char *etag;
    uint64_t first = 0, last = 0;
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
    if (res->status == 200) {
        enum range_result r = media_range(req, res, etag, (uint64_t)f.size, &first, &last);
        if (r == RANGE_UNSATISFIABLE) {
            close(f.fd);
            return response_detail(res, 416, "Range Not Satisfiable");
        }
        if (r == RANGE_PARTIAL) {
            res->fd_offset = first;
            f.size = last - first + 1;
        }
    }
    res->content_type = storage_content_type(key);
    res->fd = f.fd;
    res->fd_size = f.size;
    return ERR_OK;
}

enum err handle_media_pending(struct request *req, struct response *res)
{
    const char *key = req->params[0];
    struct db_pending p;
    uint64_t first = 0, last = 0;
    enum range_result r;
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
    res->status = 200;
    r = media_range(req, res, NULL, p.len, &first, &last);
    if (r == RANGE_UNSATISFIABLE)
        return response_detail(res, 416, "Range Not Satisfiable");
    if (r == RANGE_FULL) {
        first = 0;
        last = p.len ? p.len - 1 : 0;
    }
    res->body = malloc(p.len ? p.len : 1);
    if (!res->body)
        return ERR_NOMEM;
    res->body_len = p.len ? (size_t)(last - first + 1) : 0;
    memcpy(res->body, (const unsigned char *)p.bytes + first, res->body_len);
    res->content_type = p.content_type;
    /* the URL changes to the object's once it is stored: never cache this answer */
    response_header(res, "Cache-Control", "no-store");
    response_header(res, "X-Content-Type-Options", "nosniff");
    return ERR_OK;
}
