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
#include "util/log.h"

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
    const char *range, *if_range;                /* headers, or NULL (the media routes') */
    const char *content_type;                    /* header of a BODY_JSON route, or NULL */
    const unsigned char *body;                   /* a BODY_JSON route's raw body (server.c's), */
    size_t body_len;                             /* NUL-terminated; NULL when none came */
    char user_id[ID_UUID_LEN];                   /* set for authenticated routes */
    char id[LOG_REQUEST_ID_MAX + 1];             /* X-Request-Id: the client's or made */
    int64_t start_ns;

    /* set by request_fail*() for the error renderer */
    const char *error_detail;
    json_t *error_list;              /* FastAPI's 422 list, owned */
    bool error_list_lost;            /* an entry could not be built: the list is not whole */
    const char *error_drawing_id;    /* a drawing saved although the request failed */
    const char *error_challenge;     /* a 401's WWW-Authenticate value; NULL: "Bearer" */
    const char *error_transcription; /* a refused voice prompt: what was heard (SPEC §16) */
};

struct header {
    const char *name, *value; /* static or arena strings */
};

#define RESPONSE_MAX_HEADERS 8

struct response_stream; /* server.c's: a body produced while it is sent */

struct response {
    int status;
    const char *content_type;
    char *body;            /* malloc'd, owned; or NULL */
    const void *body_static; /* or: bytes that outlive the server (not freed), body_len long */
    size_t body_len;
    int fd;                /* >= 0: serve this file instead of body (owned) */
    uint64_t fd_size;      /* bytes of it to send, */
    uint64_t fd_offset;    /* from here */
    struct response_stream *stream; /* set: stream this body (response_stream()); owned */
    struct header headers[RESPONSE_MAX_HEADERS];
    size_t n_headers;
};

/*
 * Answering later. A handler that hands its work to another thread calls
 * request_defer(), hands it on, and returns ERR_OK without filling res; the
 * connection is then suspended (no HTTP thread waits). Whoever finishes the work
 * fills res (the struct response the handler got) and calls request_resume(req),
 * exactly once, from any thread; after that call neither req nor res may be
 * touched. A handler that returns an error after request_defer() must not have
 * handed the work on: the error is answered at once.
 */
void request_defer(struct request *req);
void request_resume(struct request *req);

/*
 * A body of unknown length produced while it is sent (chunked), without a thread
 * waiting on either side. The server calls read(arg, buf, max) on an HTTP thread
 * whenever the client can take more; read must not block and returns the bytes it
 * copied (> 0), 0 when none are ready yet (the connection then sleeps, without a
 * thread, until response_stream_wake()), RESPONSE_STREAM_END when the body is complete,
 * or RESPONSE_STREAM_ERROR to cut the connection (the client sees a truncated body).
 * done(arg) runs exactly once, on any thread, when the server is finished with the
 * stream: sent, cut, the client gone, or never sent (an error answered instead); read
 * is never called after it. On ERR_OK, res streams (a handler then returns ERR_OK)
 * and *producer is the producer's handle for response_stream_wake(), which it must
 * give up with response_stream_release() (it may wake until then, even after done()).
 * On error done(arg) has already run. status and headers are res's as usual.
 */
#define RESPONSE_STREAM_END (-1)
#define RESPONSE_STREAM_ERROR (-2)
typedef long (*response_read_fn)(void *arg, char *buf, size_t max);
enum err response_stream(struct response *res, response_read_fn read, void (*done)(void *arg),
                         void *arg, struct response_stream **producer);
/* New bytes (or the end) are ready: a sleeping connection calls read again. Cheap when
 * it is not sleeping; any thread. */
void response_stream_wake(struct response_stream *s);
/* The producer's handle given up. Accepts NULL. */
void response_stream_release(struct response_stream *s);

/* A request header's value (the first of that name, case-insensitive), or NULL. Only
 * while the handler runs on its HTTP thread (not after request_defer()); the value
 * lives as long as the request. server.c's. */
const char *request_header(const struct request *req, const char *name);

/* The last query value named key, or NULL. */
const char *request_query(const struct request *req, const char *key);
/* The last multipart field named name, or NULL. */
const struct form_field *request_field(const struct request *req, const char *name);

/* Records a detail message for err's response and returns err. detail is static or arena. */
enum err request_fail(struct request *req, enum err err, const char *detail);

/*
 * A bearer token that was presented and refused (RFC 6750 §3.1): ERR_UNAUTHORIZED,
 * 401 {"detail": "Could not validate credentials"} with WWW-Authenticate: Bearer
 * error="invalid_token", plus error_description="The access token expired" when
 * expired (SPEC §16), so a client knows to refresh rather than sign in again.
 */
enum err request_fail_token(struct request *req, bool expired);

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

/*
 * Reads a text form field as FastAPI's Form(str) with length limits does: absent or
 * empty is "Field required" (when required; else *out = NULL), not UTF-8 or holding
 * NUL is string_type, and fewer than min or more than max characters (code points)
 * is string_too_short / string_too_long; each adds a 422 entry at ["body", name].
 */
enum err request_form_text(struct request *req, const char *name, bool required, size_t min,
                           size_t max, const char **out);

/* An optional UUID form field (FastAPI's Form(None)): absent or "" leaves *present
 * false; anything else must parse (uuid_parsing 422 entry at ["body", name]). */
enum err request_form_uuid(struct request *req, const char *name, char out[ID_UUID_LEN],
                           bool *present);

/*
 * The body of a BODY_JSON route as FastAPI reads a JSON body model: absent is
 * "Field required" at ["body"]; a content type other than application/json (or
 * +json) and anything but a JSON object are model_attributes_type at ["body"];
 * malformed JSON is json_invalid at ["body", offset]. Each returns ERR_VALIDATION.
 * On ERR_OK *out is a new reference (the caller decrefs it).
 */
enum err request_json_body(struct request *req, json_t **out);

/* request_json_body(), or, for an application/x-www-form-urlencoded body (OAuth2's
 * password flow), its fields as an object of strings (a value that is not UTF-8
 * becomes a non-string, so the field reads as string_type). */
enum err request_json_or_form_body(struct request *req, json_t **out);

/*
 * A string member of a JSON body object, read as pydantic reads a str field at
 * ["body", name]: absent or null is "Field required" (when required; else *out
 * NULL), not a string (or holding NUL) is string_type, and fewer than min or more
 * than max characters is string_too_short / string_too_long. secret: the value is
 * never echoed in the 422 list (passwords). *out is borrowed from doc; *len is its
 * length in bytes.
 */
enum err request_json_text(struct request *req, json_t *doc, const char *name, bool required,
                           size_t min, size_t max, bool secret, const char **out, size_t *len);
/* Adds a ready-made entry to FastAPI's validation list (steals it: a {"type", "loc",
 * "msg", "input", ...} object, for a loc request_invalid cannot write, such as
 * ["body", "ids", 3]); returns ERR_VALIDATION. */
enum err request_invalid_entry(struct request *req, json_t *entry);
/*
 * Optional query arguments read as pydantic reads them; absent leaves the default.
 * Each bad value adds a 422 entry at ["query", name] and returns ERR_VALIDATION.
 *
 * bool: true/false, 1/0, yes/no, on/off, t/f, y/n in any case (bool_parsing); *out
 * is -1 when absent, else 0 or 1.
 */
enum err request_query_bool(struct request *req, const char *name, int *out);
/* One of n choices, exactly (Literal[...]: literal_error); *out = its index, def
 * when absent. */
enum err request_query_choice(struct request *req, const char *name, const char *const *choices,
                              size_t n, size_t def, size_t *out);
/*
 * A moment: YYYY-MM-DD (UTC midnight) or an ISO 8601 date-time YYYY-MM-DD[T ]HH:MM[:SS[.f]]
 * with Z or an offset (±HH:MM, ±HHMM) (datetime_from_date_parsing; a date-time without
 * an offset is timezone_aware). Years 0001-9999. *out is in ms since the epoch, a
 * fraction rounded UP to the next millisecond (so from <= t and t < to keep their
 * meaning at ms precision); def when absent.
 */
enum err request_query_datetime(struct request *req, const char *name, int64_t def, int64_t *out);
/* Text of min..max characters (string_too_short / string_too_long); *out is NULL when
 * absent. Ill-formed UTF-8 is read as Starlette decodes it (U+FFFD for each bad part). */
enum err request_query_text(struct request *req, const char *name, size_t min, size_t max,
                            const char **out);

/*
 * If-None-Match against etag (a quoted entity tag, W/ or not): true if the header
 * lists it, compared weakly (RFC 9110 §13.1.2: W/ ignored on both sides), or is "*"
 * and star counts (the resource exists). False without the header.
 */
bool request_etag_matches(const struct request *req, const char *etag, bool star);

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

/*
 * Reads the optional integer member name of a JSON body object as pydantic's lax int
 * does: absent or null leaves *present false; an integer, a float without a fractional
 * part, a bool or a string of decimal digits is accepted; anything else is int_type,
 * int_from_float or int_parsing, and a value below min or above max is
 * greater_than_equal / less_than_equal, each a 422 entry at ["body", name] with the
 * input echoed. Returns ERR_VALIDATION then.
 */
enum err request_body_int(struct request *req, const json_t *obj, const char *name, int64_t min,
                          int64_t max, int64_t *out, bool *present);
