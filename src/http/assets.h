/*
 * assets.h - the files compiled into the binary (the web app of SPEC §13, the
 * OpenAPI document, Swagger UI), looked up by URL path.
 *
 * The table is generated at build time by scripts/embed_assets.py from web/ and
 * the files meson.build names: each entry has its bytes, a gzip copy when that
 * pays, a strong ETag (a hash of the bytes) and its content type. The web app's
 * files live under one versioned folder (assets_folder, "/assets/HASH/") whose
 * name changes whenever any of them does, so they may be cached as immutable;
 * everything else (index.html at "/") is revalidated by its ETag.
 *
 * Ownership: everything is static, read-only data. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct asset {
    const char *path; /* URL path, e.g. "/" or "/assets/0123abcd4567/app.js" */
    const unsigned char *data;
    size_t size;
    const unsigned char *gz; /* gzip of data, or NULL when it would not pay */
    size_t gz_size;
    const char *etag; /* quoted strong entity tag */
    const char *content_type;
    bool immutable; /* under assets_folder: its URL changes with its bytes */
};

/* the generated table, sorted by path (bytewise) */
extern const struct asset assets_table[];
extern const size_t assets_count;
/* "/assets/HASH/": where the web app's files are (the share page links them) */
extern const char assets_folder[];

/* The asset at path, or NULL. */
const struct asset *assets_find(const char *path);

/* True when an Accept-Encoding header value (may be NULL) accepts gzip: a coding
 * "gzip" (or "x-gzip", or "*") without q=0. */
bool assets_accepts_gzip(const char *accept_encoding);
