/*
 * request.h - what a handler sees of an HTTP exchange, without the HTTP library.
 *
 * The server (server.c) parses the request line, query, headers it cares about
 * and any multipart body into struct request, calls the route's handler, and
 * sends struct response. Everything in a request lives in req->arena and dies
 * with the request; a response body is malloc'd and owned by the response.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/id.h"
#include "util/jsonw.h"

struct app;

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE,
                   HTTP_OPTIONS, HTTP_OTHER };

struct kv {
    const char *key, *value;
};

/* One part of a multipart/form-data body. */
struct form_field {
    const char *name;
    const char *filename;     /* as the client sent it: never trusted */
    unsigned char *data;      /* the bytes, NUL-terminated for convenience */
    size_t len;
    size_t cap;               /* the most this field may hold */
    size_t alloc;             /* bytes allocated for data (server.c) */
    bool too_large;           /* more arrived than cap: the data was dropped */
    bool started;             /* some data arrived (server.c) */
};

#define REQUEST_MAX_PARAMS 4

struct request {
    struct app *app;
    struct arena *arena;
    enum http_method method;
    const char *path;                           /* decoded path, no query */
    const char *params[REQUEST_MAX_PARAMS];      /* path parameters, in pattern order */
    struct kv *query;                            /* decoded query arguments */
    size_t n_query;
    struct form_field *fields;                   /* multipart fields, in arrival order */
    size_t n_fields;
    const char *if_none_match;                   /* header, or NULL */
    char user_id[ID_UUID_LEN];                   /* set for authenticated routes */
    char id[17];                                 /* request id for logs */
    int64_t start_ns;

    /* set by request_fail*() for the error renderer */
    const char *error_detail;
    json_t *error_list; /* FastAPI's 422 list, owned */
};

struct header {
    const char *name, *value; /* static or arena strings */
};

#define RESPONSE_MAX_HEADERS 8

struct response {
    int status;
    const char *content_type;
    char *body;            /* malloc'd, owned; or NULL */
    size_t body_len;
    int fd;                /* >= 0: serve this file instead of body (owned) */
    uint64_t fd_size;
    struct header headers[RESPONSE_MAX_HEADERS];
    size_t n_headers;
};

/* The last query value named key, or NULL. */
const char *request_query(const struct request *req, const char *key);
/* The last multipart field named name, or NULL. */
const struct form_field *request_field(const struct request *req, const char *name);

/* Records a detail message for err's response and returns err. detail is static or arena. */
enum err request_fail(struct request *req, enum err err, const char *detail);

/*
 * Adds an entry to FastAPI's validation list: loc = [where, name], msg, type; returns
 * ERR_VALIDATION. Several calls accumulate, as pydantic reports every bad field.
 */
enum err request_invalid(struct request *req, const char *where, const char *name,
                         const char *msg, const char *type);

/*
 * Reads an optional integer query argument with pydantic's messages: absent gives def;
 * not an integer, below min or above max adds a 422 entry and returns ERR_VALIDATION.
 */
enum err request_query_int(struct request *req, const char *name, int64_t def, int64_t min,
                           int64_t max, int64_t *out);

/* Parses raw as a UUID into out, or adds a 422 uuid_parsing entry at [where, name]. */
enum err request_uuid(struct request *req, const char *where, const char *name, const char *raw,
                      char out[ID_UUID_LEN]);

/* Sets status and a compact JSON body; steals body (json_decref'd here). */
enum err response_json(struct response *res, int status, json_t *body);

/* Sets status and the writer's document as the body; finishes (and resets) w. */
enum err response_jsonw(struct response *res, int status, struct jsonw *w);

/* {"detail": detail} with status. */
enum err response_detail(struct response *res, int status, const char *detail);

/* Adds a header; name and value must outlive the response (static or arena). */
void response_header(struct response *res, const char *name, const char *value);

/* Fills res with the error body for err (status, {"detail": …} or the 422 list).
 * The one place an error becomes HTTP. */
void response_error(struct request *req, struct response *res, enum err err);
