/*
 * ingest.c - validates and normalises uploaded images with libvips (SPEC §6).
 *
 * Pipeline: magic bytes pick the one loader ever called (sequential, fail_on=error;
 * lazy, so only the header is parsed) -> width*height checked against the limit ->
 * embedded ICC profile applied, then sRGB or B_W at 8 bits -> scaled to fit max_side
 * -> rendered into memory (the only full-size decode, streamed top to bottom) -> EXIF
 * orientation applied -> every metadata field removed -> PNG + 256 px WebP thumbnail,
 * whose container is then cleaned of the EXIF chunk libvips 8.14 writes regardless.
 * Rotating after scaling keeps the full-size image streaming: the longer side, and so
 * the scale, is the same either way.
 *
 * Owns libvips's process set-up (imaging_init/imaging_shutdown). Thread-safe after
 * imaging_init: each call builds a private pipeline, and the shared state is a few
 * flags written before threads start. The libvips error buffer is process-wide, so a
 * logged message may now and then carry another request's text; it is only logged,
 * never shown to a client. Result buffers come from GLib (g_malloc) and are released
 * by ingest_result_free() with g_free().
 */
#include "ingest.h"

#include <stdbool.h>
#include <string.h>

#include <vips/vips.h>

#include "imaging/vips_log.h"
#include "util/log.h"

#define WHY_FORMAT "Unsupported image format: use PNG, JPEG, WebP or GIF"
#define WHY_CORRUPT "The image is corrupt or truncated"
#define WHY_COLOUR "The image uses a colour format that is not supported"
#define WHY_BYTES "The image file is too large"
#define WHY_PIXELS "The image has too many pixels"
#define WHY_INTERNAL "The image could not be processed"

#define THUMB_QUALITY 80
#define THUMB_EFFORT 0     /* libwebp 0-6; bench/edits.sh: 2 -> 0 cut 1.4 ms per edit (2 thumbnails) */
#define PNG_COMPRESSION 4  /* zlib level for re-encoded images (libvips default 6) */
#define FTYP_SCAN_MAX 4096 /* an ftyp box is a few dozen bytes; do not walk further */

/* Every load: stream once, and fail on a decode error instead of returning black. */
#define LOAD_OPTIONS "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, NULL

enum format { FMT_NONE, FMT_PNG, FMT_JPEG, FMT_WEBP, FMT_GIF, FMT_HEIF };

static bool vips_started;
static bool heif_available;

/* Moves text a successful operation left in libvips's error buffer to the debug log,
 * so that it is not blamed on the next failure. */
static void drain_vips_error(const char *what)
{
    char *msg = vips_error_buffer_copy();

    if (msg[0] != '\0')
        log_debug("ingest: %s left: %s", what, msg);
    g_free(msg);
}

/* libvips reports decoder warnings through GLib; keep them in our one-line format.
 * They describe client input, not the server, so they go out at debug level. */
static void on_glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer user)
{
    (void)user;
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        log_error("%s: %s", domain ? domain : "glib", msg);
    else
        log_debug("%s: %s", domain ? domain : "glib", msg);
}

enum err imaging_init(const char *argv0)
{
    if (vips_started)
        return ERR_OK;
    if (VIPS_INIT(argv0 ? argv0 : "novadraw")) {
        vips_log_error("ingest", "libvips failed to start");
        return ERR_INTERNAL;
    }
    g_log_set_handler("VIPS", G_LOG_LEVEL_MASK, on_glib_log, NULL);
    vips_cache_set_max(0); /* no operation cache: nothing outlives a request */
#if VIPS_MAJOR_VERSION > 8 || (VIPS_MAJOR_VERSION == 8 && VIPS_MINOR_VERSION >= 13)
    vips_block_untrusted_set(TRUE); /* we call named loaders only; this is a second fence */
#else
    log_warn("imaging: libvips %s cannot block untrusted loaders", vips_version_string());
#endif
    heif_available = vips_type_find("VipsOperation", "heifload_buffer") != 0;
    vips_started = true;
    log_info("imaging: libvips %s, HEIF/AVIF %s", vips_version_string(),
             heif_available ? "available" : "unavailable");
    return ERR_OK;
}

void imaging_shutdown(void)
{
    if (!vips_started)
        return;
    vips_shutdown();
    vips_started = false;
}

void imaging_thread_done(void)
{
    vips_thread_shutdown();
}

static bool is_heif_brand(const unsigned char *b)
{
    static const char brands[][4] = {"heic", "heix", "hevc", "hevx", "heim",
                                     "heis", "mif1", "msf1", "avif", "avis"};

    for (size_t i = 0; i < sizeof(brands) / sizeof(brands[0]); i++) {
        if (memcmp(b, brands[i], 4) == 0)
            return true;
    }
    return false;
}

/* ISO-BMFF: [size:4 BE]["ftyp"][major:4][minor version:4][compatible:4]... */
static bool is_heif(const unsigned char *p, size_t len)
{
    size_t end;
    uint32_t box;

    if (len < 16 || memcmp(p + 4, "ftyp", 4) != 0)
        return false;
    box = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (box == 0)
        box = (uint32_t)(len < FTYP_SCAN_MAX ? len : FTYP_SCAN_MAX); /* box runs to EOF */
    if (box < 16)
        return false; /* too short, or a 64-bit size no real ftyp needs */
    end = box < len ? box : len;
    if (end > FTYP_SCAN_MAX)
        end = FTYP_SCAN_MAX;
    if (is_heif_brand(p + 8))
        return true;
    for (size_t i = 16; i + 4 <= end; i += 4) {
        if (is_heif_brand(p + i))
            return true;
    }
    return false;
}

static enum format sniff(const void *data, size_t len)
{
    const unsigned char *p = data;

    if (!p)
        return FMT_NONE;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return FMT_PNG;
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return FMT_JPEG;
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return FMT_WEBP;
    if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return FMT_GIF;
    if (is_heif(p, len))
        return FMT_HEIF;
    return FMT_NONE;
}

const char *ingest_sniff(const void *data, size_t len)
{
    switch (sniff(data, len)) {
    case FMT_PNG:
        return "png";
    case FMT_JPEG:
        return "jpeg";
    case FMT_WEBP:
        return "webp";
    case FMT_GIF:
        return "gif";
    case FMT_HEIF:
        return "heif";
    case FMT_NONE:
        break;
    }
    return NULL;
}

/* Calls the one loader for f. Lazy: on return only the header has been read. The
 * loaders take a non-const pointer but only read through it. */
static int load(enum format f, const void *data, size_t len, VipsImage **out)
{
    void *buf = (void *)data;

    switch (f) {
    case FMT_PNG:
        return vips_pngload_buffer(buf, len, out, LOAD_OPTIONS);
    case FMT_JPEG:
        return vips_jpegload_buffer(buf, len, out, LOAD_OPTIONS);
    case FMT_WEBP:
        return vips_webpload_buffer(buf, len, out, LOAD_OPTIONS); /* first frame */
    case FMT_GIF:
        return vips_gifload_buffer(buf, len, out, LOAD_OPTIONS); /* first frame */
    case FMT_HEIF:
        return vips_heifload_buffer(buf, len, out, LOAD_OPTIONS); /* primary image */
    case FMT_NONE:
        break;
    }
    vips_error("ingest", "no loader for this format");
    return -1;
}

/* Makes next the current image, dropping the reference to the previous one (next
 * holds its own reference to it if it still needs the pixels). */
static void advance(VipsImage **img, VipsImage *next)
{
    g_object_unref(*img);
    *img = next;
}

/* Rounds a float *img to the nearest integer and stores it as uchar (a plain cast
 * would truncate, darkening everything by half a level on average). */
static int round_to_uchar(VipsImage **img)
{
    VipsImage *t = NULL;

    if (vips_round(*img, &t, VIPS_OPERATION_ROUND_RINT, NULL))
        return -1;
    advance(img, t);
    t = NULL;
    if (vips_cast_uchar(*img, &t, NULL))
        return -1;
    advance(img, t);
    return 0;
}

/* True if img carries an ICC profile that lcms can parse and that fits its bands. A
 * junk profile would otherwise be replaced silently by sRGB, leaving lcms's complaint
 * in the shared error buffer; this logs and clears it instead. */
static bool has_usable_profile(VipsImage *img)
{
    const void *data = NULL;
    size_t len = 0;

    if (!vips_image_get_typeof(img, VIPS_META_ICC_NAME))
        return false;
    if (vips_image_get_blob(img, VIPS_META_ICC_NAME, &data, &len) || !data || len == 0) {
        vips_error_clear();
        return false;
    }
    if (!vips_icc_is_compatible_profile(img, data, len)) {
        vips_log_error("ingest", "embedded ICC profile ignored");
        return false;
    }
    return true;
}

/*
 * Converts *img to sRGB (3 bands) or B_W (1 band), 8 bits per band, plus at most one
 * alpha band. An embedded ICC profile is honoured when it can be, so stripping it later
 * does not shift the colours; a broken profile is logged and ignored.
 */
static int normalise_colour(VipsImage **img)
{
    VipsImage *t = NULL;
    VipsInterpretation interp = vips_image_guess_interpretation(*img);
    bool grey = interp == VIPS_INTERPRETATION_B_W || interp == VIPS_INTERPRETATION_GREY16;
    VipsInterpretation target = grey ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    int colour_bands = grey ? 1 : 3;

    if (!grey && vips_icc_present() && has_usable_profile(*img)) {
        if (vips_icc_transform(*img, &t, "srgb", "embedded", TRUE, "depth", 8, NULL) == 0)
            advance(img, t);
        else
            vips_log_error("ingest", "embedded ICC profile ignored");
        t = NULL;
    }
    interp = vips_image_guess_interpretation(*img);
    if (interp != target || (*img)->BandFmt != VIPS_FORMAT_UCHAR) {
        if (!vips_colourspace_issupported(*img)) {
            vips_error("ingest", "no conversion from interpretation %d", (int)interp);
            return -1;
        }
        if (vips_colourspace(*img, &t, target, NULL))
            return -1;
        advance(img, t);
        t = NULL;
    }
    if ((*img)->BandFmt == VIPS_FORMAT_USHORT) { /* defensive: should not survive the above */
        if (vips_rshift_const1(*img, &t, 8, NULL))
            return -1;
        advance(img, t);
        t = NULL;
    }
    if ((*img)->BandFmt != VIPS_FORMAT_UCHAR && round_to_uchar(img))
        return -1;
    if ((*img)->Bands < colour_bands) {
        vips_error("ingest", "%d bands after conversion", (*img)->Bands);
        return -1;
    }
    if ((*img)->Bands > colour_bands + 1) { /* keep the colour and the first extra band */
        if (vips_extract_band(*img, &t, 0, "n", colour_bands + 1, NULL))
            return -1;
        advance(img, t);
    }
    return 0;
}

/*
 * Scales an 8-bit *img down so its longer side is side, keeping the aspect ratio; does
 * nothing if it already fits. With alpha, colours are premultiplied (as float) while
 * resampling so transparent pixels do not bleed into their neighbours; this costs about
 * twice the memory and several times the time of an opaque image of the same size.
 */
static int fit_within(VipsImage **img, int side)
{
    VipsImage *t = NULL;
    int64_t w = (*img)->Xsize, h = (*img)->Ysize;
    int64_t tw = side, th = side;
    bool alpha = vips_image_hasalpha(*img);

    if (w <= side && h <= side)
        return 0;
    if (w >= h)
        th = (h * side * 2 + w) / (2 * w); /* rounded to nearest */
    else
        tw = (w * side * 2 + h) / (2 * h);
    if (th < 1)
        th = 1;
    if (tw < 1)
        tw = 1;

    if (alpha) {
        if (vips_premultiply(*img, &t, NULL))
            return -1;
        advance(img, t);
        t = NULL;
    }
    if (vips_resize(*img, &t, (double)tw / (double)w, "vscale", (double)th / (double)h, "kernel",
                    VIPS_KERNEL_LANCZOS3, NULL))
        return -1;
    advance(img, t);
    t = NULL;
    if (alpha) {
        if (vips_unpremultiply(*img, &t, NULL))
            return -1;
        advance(img, t);
        if (round_to_uchar(img))
            return -1;
    }
    return 0;
}

/* A copy of *img with no metadata at all: EXIF, XMP, IPTC, ICC, text comments, format
 * hints. The built-in header fields (width, bands, ...) are not removable and stay. */
static int strip_metadata(VipsImage **img)
{
    VipsImage *t = NULL;
    gchar **names;

    if (vips_copy(*img, &t, NULL)) /* the copy has its own metadata table */
        return -1;
    names = vips_image_get_fields(t);
    for (gchar **n = names; n && *n; n++)
        vips_image_remove(t, *n);
    g_strfreev(names);
    advance(img, t);
    return 0;
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/*
 * Removes the ICCP, EXIF and XMP chunks from a WebP file in place and clears their
 * flags in VP8X. libvips 8.14's webpsave ignores "strip" and writes a fresh EXIF block
 * even for an image with no metadata, so the bytes are cleaned after encoding.
 * Layout: "RIFF" [size:4 LE] "WEBP", then chunks [fourcc:4][size:4 LE][data, padded
 * to even]. Returns -1 if the file is not laid out that way.
 */
static int webp_strip_metadata(void *buf, size_t *len)
{
    unsigned char *p = buf;
    size_t end, in = 12, out = 12;

    if (*len < 12 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WEBP", 4) != 0)
        return -1;
    end = (size_t)get_le32(p + 4) + 8;
    if (end > *len || end < 12)
        return -1;
    while (in < end) {
        size_t n, whole;

        if (end - in < 8)
            return -1;
        n = get_le32(p + in + 4);
        if (n > end - in - 8)
            return -1;
        whole = 8 + n + (n & 1);
        if (whole > end - in)
            whole = end - in; /* a missing final pad byte: tolerate */
        if (memcmp(p + in, "VP8X", 4) == 0 && n >= 1)
            p[in + 8] &= (unsigned char)~(0x20 | 0x08 | 0x04); /* ICC, EXIF, XMP flags */
        if (memcmp(p + in, "ICCP", 4) != 0 && memcmp(p + in, "EXIF", 4) != 0 &&
            memcmp(p + in, "XMP ", 4) != 0) {
            memmove(p + out, p + in, whole);
            out += whole;
        }
        in += whole;
    }
    put_le32(p + 4, (uint32_t)(out - 8));
    *len = out;
    return 0;
}

/* ---- PNG pass-through ---------------------------------------------------------- */

/*
 * A PNG that is already what we store (8-bit sRGB or grey, no ICC profile, no
 * orientation, within the size limit) is kept as sent, minus every chunk but the
 * image itself: re-encoding would cost more CPU than the rest of the ingest and,
 * with libvips' unfiltered deflate, usually a bigger file. Decoding it in full
 * has already proved the pixels sound.
 */
static bool png_passthrough_ok(enum format f, VipsImage *img, const struct ingest_limits *lim)
{
    return f == FMT_PNG && img->BandFmt == VIPS_FORMAT_UCHAR && img->Bands >= 1 &&
           img->Bands <= 4 &&
           (img->Type == VIPS_INTERPRETATION_sRGB || img->Type == VIPS_INTERPRETATION_B_W) &&
           !vips_image_get_typeof(img, VIPS_META_ICC_NAME) &&
           !vips_image_get_typeof(img, VIPS_META_ORIENTATION) && img->Xsize <= lim->max_side &&
           img->Ysize <= lim->max_side;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Copies the signature and the IHDR, PLTE, tRNS, IDAT and IEND chunks of png into a
 * new g_malloc'd buffer: text, EXIF, XMP, time, gamma and the rest are dropped, as is
 * anything after IEND. -1 if the chunk structure is broken. */
static int png_keep_image_chunks(const unsigned char *png, size_t len, void **out,
                                 size_t *out_len)
{
    static const char *const keep[] = {"IHDR", "PLTE", "tRNS", "IDAT", "IEND"};
    unsigned char *buf;
    size_t in = 8, n = 8;

    if (len < 8)
        return -1;
    buf = g_malloc(len);
    memcpy(buf, png, 8);
    while (in + 12 <= len) {
        uint32_t clen = get_be32(png + in);
        size_t whole;
        bool wanted = false;

        if (clen > len - in - 12)
            break;
        whole = (size_t)clen + 12;
        for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
            wanted = wanted || memcmp(png + in + 4, keep[k], 4) == 0;
        if (wanted) {
            memcpy(buf + n, png + in, whole);
            n += whole;
        }
        in += whole;
        if (memcmp(png + in - whole + 4, "IEND", 4) == 0) {
            *out = buf;
            *out_len = n;
            return 0;
        }
    }
    g_free(buf);
    return -1;
}

static int make_thumbnail(VipsImage *in, void **buf, size_t *len)
{
    VipsImage *img = g_object_ref(in);
    int rc = -1;

    if (fit_within(&img, INGEST_THUMB_SIDE))
        goto out;
    if (vips_webpsave_buffer(img, buf, len, "Q", THUMB_QUALITY, "effort", THUMB_EFFORT, "strip",
                             TRUE, NULL))
        goto out;
    if (webp_strip_metadata(*buf, len)) {
        vips_error("ingest", "libwebp wrote an unexpected RIFF layout");
        VIPS_FREE(*buf);
        goto out;
    }
    rc = 0;
out:
    VIPS_UNREF(img);
    return rc;
}

static bool limits_ok(const struct ingest_limits *lim)
{
    return lim && lim->max_bytes > 0 && lim->max_side > 0 && lim->max_pixels > 0;
}

/* The ingest itself; with_thumbnail false leaves out->thumb NULL. */
static enum err ingest(const void *data, size_t len, const struct ingest_limits *lim,
                       bool with_thumbnail, struct ingest_result *out, const char **why)
{
    VipsImage *img = NULL;
    VipsImage *t = NULL;
    void *png = NULL, *thumb = NULL;
    size_t png_len = 0, thumb_len = 0;
    enum err rc = ERR_INTERNAL;
    const char *reason = WHY_INTERNAL;
    enum format f;
    int64_t pixels;
    bool passthrough;

    if (!vips_started || !limits_ok(lim) || !out || (!data && len > 0)) {
        log_error("ingest: called before imaging_init or with bad arguments");
        goto out;
    }
    if ((uint64_t)len > (uint64_t)lim->max_bytes) {
        rc = ERR_TOO_LARGE;
        reason = WHY_BYTES;
        goto out;
    }
    f = sniff(data, len);
    if (f == FMT_NONE || (f == FMT_HEIF && !heif_available)) {
        rc = ERR_UNSUPPORTED;
        reason = WHY_FORMAT;
        goto out;
    }

    rc = ERR_UNSUPPORTED;
    reason = WHY_CORRUPT;
    if (load(f, data, len, &img)) {
        vips_log_error("ingest", "unreadable header");
        goto out;
    }
    if (f == FMT_HEIF)
        drain_vips_error("heifload"); /* it reports a harmless "bad seek" while probing */
    pixels = (int64_t)img->Xsize * (int64_t)img->Ysize; /* each is at most 2^31 - 1 */
    if (img->Xsize <= 0 || img->Ysize <= 0) {
        log_warn("ingest: %s claims %dx%d", ingest_sniff(data, len), img->Xsize, img->Ysize);
        goto out;
    }
    if (pixels > lim->max_pixels) {
        log_info("ingest: refused %dx%d %s (limit %lld pixels)", img->Xsize, img->Ysize,
                 ingest_sniff(data, len), (long long)lim->max_pixels);
        rc = ERR_TOO_LARGE;
        reason = WHY_PIXELS;
        goto out;
    }

    passthrough = png_passthrough_ok(f, img, lim);
    if (normalise_colour(&img)) {
        vips_log_error("ingest", "colour conversion");
        reason = WHY_COLOUR;
        goto out;
    }
    rc = ERR_INTERNAL;
    reason = WHY_INTERNAL;
    if (fit_within(&img, lim->max_side)) {
        vips_log_error("ingest", "scaling");
        goto out;
    }

    /* The decode happens here; a failure now is the file's fault. */
    t = vips_image_copy_memory(img);
    if (!t) {
        vips_log_error("ingest", "decode");
        rc = ERR_UNSUPPORTED;
        reason = WHY_CORRUPT;
        goto out;
    }
    advance(&img, t);
    t = NULL;

    if (vips_autorot(img, &t, NULL)) {
        vips_log_error("ingest", "orientation");
        goto out;
    }
    advance(&img, t);
    t = NULL;
    if (strip_metadata(&img)) {
        vips_log_error("ingest", "metadata");
        goto out;
    }
    if (img->BandFmt != VIPS_FORMAT_UCHAR || img->Bands < 1 || img->Bands > 4) {
        log_error("ingest: normalised image has format %d, %d bands", (int)img->BandFmt,
                  img->Bands);
        goto out;
    }
    if (passthrough && png_keep_image_chunks(data, len, &png, &png_len) == 0) {
        /* kept as sent, chunks filtered */
    } else if (vips_pngsave_buffer(img, &png, &png_len, "strip", TRUE, "compression",
                                   PNG_COMPRESSION, "filter", VIPS_FOREIGN_PNG_FILTER_ALL,
                                   NULL)) {
        vips_log_error("ingest", "PNG encode");
        goto out;
    } else {
        /* libvips 8.14's pngsave writes pHYs (from xres/yres) whatever "strip" says:
         * the same filter as a pass-through leaves the image chunks only */
        void *kept = NULL;
        size_t kept_len = 0;

        if (png_keep_image_chunks(png, png_len, &kept, &kept_len) != 0) {
            log_error("ingest: libvips wrote a PNG whose chunks do not parse");
            goto out;
        }
        VIPS_FREE(png);
        png = kept;
        png_len = kept_len;
    }
    if (with_thumbnail && make_thumbnail(img, &thumb, &thumb_len)) {
        vips_log_error("ingest", "thumbnail");
        goto out;
    }

    out->png = png;
    out->png_len = png_len;
    out->thumb = thumb;
    out->thumb_len = thumb_len;
    out->width = img->Xsize;
    out->height = img->Ysize;
    png = NULL;
    thumb = NULL;
    rc = ERR_OK;
out:
    VIPS_UNREF(img);
    VIPS_FREE(png);
    VIPS_FREE(thumb);
    if (rc != ERR_OK && why)
        *why = reason;
    return rc;
}

enum err ingest_image(const void *data, size_t len, const struct ingest_limits *lim,
                      struct ingest_result *out, const char **why)
{
    return ingest(data, len, lim, true, out, why);
}

enum err ingest_image_only(const void *data, size_t len, const struct ingest_limits *lim,
                           struct ingest_result *out, const char **why)
{
    return ingest(data, len, lim, false, out, why);
}

enum err ingest_add_thumbnail(struct ingest_result *r)
{
    VipsImage *img = NULL;
    enum err rc = ERR_INTERNAL;

    if (!r || !r->png || r->thumb)
        return ERR_INVALID;
    /* our own PNG: trusted, but decoded with the same care */
    if (load(FMT_PNG, r->png, r->png_len, &img)) {
        vips_log_error("ingest", "thumbnail source");
        goto out;
    }
    if (make_thumbnail(img, &r->thumb, &r->thumb_len)) {
        vips_log_error("ingest", "thumbnail");
        goto out;
    }
    rc = ERR_OK;
out:
    VIPS_UNREF(img);
    return rc;
}

void ingest_result_free(struct ingest_result *r)
{
    if (!r)
        return;
    VIPS_FREE(r->png);
    VIPS_FREE(r->thumb);
    r->png_len = 0;
    r->thumb_len = 0;
}
