/*
 * sigv4.h - AWS Signature Version 4, the one implementation used both to sign
 * requests (the Authorization header) and to presign URLs (X-Amz-* query).
 *
 * Pure functions: the time is a parameter, nothing is global, every call is
 * thread-safe. Inputs are borrowed; every char * returned is malloc'd and the
 * caller frees it. Paths, query names and values are passed raw (not encoded):
 * this module encodes them exactly as AWS canonicalises them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/err.h"

#define SIGV4_HEX_LEN 65  /* 64 hex digits + NUL */
#define SIGV4_DATE_LEN 17 /* "20130524T000000Z" + NUL */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A header or query parameter: raw name and value, both borrowed. */
struct sigv4_kv {
    const char *name;
    const char *value;
};

/* Who signs, and for which scope. */
struct sigv4_key {
    const char *access_key;
    const char *secret_key;
    const char *region;  /* "us-east-1", "nyc3" */
    const char *service; /* "s3" */
};

struct sigv4_request {
    const char *method;           /* "GET", "PUT", ... */
    const char *host;             /* the Host header exactly as sent: "h" or "h:port" */
    const char *path;             /* raw, starts with '/'; encoded here, '/' kept */
    const struct sigv4_kv *query; /* raw; encoded and sorted here; value NULL = "" */
    size_t n_query;
    const struct sigv4_kv *headers; /* more headers to sign (besides host, x-amz-*) */
    size_t n_headers;
    const char *payload_hash; /* 64 hex digits, or SIGV4_UNSIGNED_PAYLOAD */
};

/* What sigv4_sign() produces: send both, plus x-amz-content-sha256: payload_hash. */
struct sigv4_auth {
    char amz_date[SIGV4_DATE_LEN]; /* the x-amz-date header value */
    char *authorization;           /* the Authorization header value (malloc'd; secret-free) */
};

/*
 * URI-encodes s as AWS canonicalises: A-Za-z0-9-._~ kept, '/' kept if keep_slash,
 * every other byte %XX with uppercase hex. NULL on no memory or over 64 KiB.
 */
char *sigv4_uri_encode(const char *s, bool keep_slash);

/* Lowercase hex SHA-256 of len bytes. */
void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN]);

/* t as the ISO 8601 basic form AWS uses ("20130524T000000Z"). False if t is out of range. */
bool sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN]);

/*
 * The canonical request for r with exactly these headers signed (r->headers plus
 * `extra`, all lowercased, trimmed and sorted) and r->query encoded and sorted.
 * Also writes the semicolon-separated signed header list. Exposed for tests.
 */
enum err sigv4_canonical_request(const struct sigv4_request *r, const struct sigv4_kv *extra,
                                 size_t n_extra, char **out, char **signed_headers);

/*
 * Signs r for the Authorization header at time now. Signs host, x-amz-date,
 * x-amz-content-sha256 (= r->payload_hash) and r->headers. On ERR_OK the caller
 * owns out->authorization (free with sigv4_auth_free).
 */
enum err sigv4_sign(const struct sigv4_key *k, const struct sigv4_request *r, time_t now,
                    struct sigv4_auth *out);
void sigv4_auth_free(struct sigv4_auth *a); /* accepts NULL */

/*
 * Presigns r (headers signed: host only; payload UNSIGNED-PAYLOAD) valid for
 * `expires` seconds (1..604800) from now. Writes the complete, encoded, sorted
 * query string including X-Amz-Signature, to append after "?" to the encoded path.
 * r->headers and r->payload_hash are ignored.
 */
enum err sigv4_presign(const struct sigv4_key *k, const struct sigv4_request *r, time_t now,
                       long expires, char **query_out);
