/*
 * ingest.h - turning untrusted image bytes into what we store (SPEC §6).
 *
 * The format is recognised by content (PNG, JPEG, WebP, GIF, HEIF/AVIF), never by
 * name or client type, and only those loaders are ever called. Dimensions are read
 * from the header and checked before any pixel is decoded. A truncated or corrupt
 * file fails (fail_on=error) instead of decoding to black. The result is upright
 * (EXIF orientation applied), sRGB or greyscale 8-bit, scaled to fit max_side,
 * stripped of all metadata, encoded as PNG; plus a WebP thumbnail of 256 px.
 *
 * Thread-safe once imaging_init() has run. Output buffers are owned by the caller;
 * they come from GLib's allocator (g_malloc), so release them only with
 * ingest_result_free() (which uses g_free), never with free().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define INGEST_THUMB_SIDE 256

struct ingest_limits {
    int64_t max_bytes;  /* refuse larger inputs: ERR_TOO_LARGE */
    int max_side;       /* scale down to fit */
    int64_t max_pixels; /* refuse larger canvases before decoding: ERR_TOO_LARGE */
};

struct ingest_result {
    void *png;           /* the normalised image */
    size_t png_len;
    void *thumb;         /* the WebP thumbnail */
    size_t thumb_len;
    int width, height;   /* of png */
};

/* Starts libvips for a server: no operation cache, untrusted loaders blocked.
 * Call once from main before threads start. Returns ERR_INTERNAL on failure. */
enum err imaging_init(const char *argv0);
void imaging_shutdown(void);
/* Frees libvips' per-thread state; call on a worker thread that used libvips, as it ends. */
void imaging_thread_done(void);

/*
 * Validates and normalises an upload. On error *why (may be NULL) points at a static,
 * client-safe sentence: ERR_UNSUPPORTED (not an image we take, or undecodable),
 * ERR_TOO_LARGE (bytes or pixels), ERR_NOMEM, ERR_INTERNAL. *out is written only on
 * success.
 */
enum err ingest_image(const void *data, size_t len, const struct ingest_limits *lim,
                      struct ingest_result *out, const char **why);

/*
 * The same, without the thumbnail (out->thumb stays NULL): what a caller in a hurry
 * needs first, e.g. to send the image to a remote editor; ingest_add_thumbnail()
 * adds it later.
 */
enum err ingest_image_only(const void *data, size_t len, const struct ingest_limits *lim,
                           struct ingest_result *out, const char **why);

/* Makes r's thumbnail from r's PNG. ERR_INVALID if r has no PNG or already a thumbnail. */
enum err ingest_add_thumbnail(struct ingest_result *r);

/* Sniffs the format by magic bytes: "png", "jpeg", "webp", "gif", "heif", or NULL. */
const char *ingest_sniff(const void *data, size_t len);

/* Releases the buffers; accepts NULL and a zeroed struct. */
void ingest_result_free(struct ingest_result *r);
