/*
 * test_ingest.c - unit tests for imaging/ingest: sniffing, the normalising pipeline,
 * metadata stripping, and the refusals (bombs, truncation, foreign formats, limits).
 * Test images are made in memory with libvips itself; a PNG decompression bomb is
 * built by hand. Single-threaded apart from the concurrency test.
 */
#include "imaging/ingest.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vips/vips.h>

#include "check.h"

#define WHY_FORMAT "Unsupported image format: use PNG, JPEG, WebP or GIF"
#define WHY_CORRUPT "The image is corrupt or truncated"

static const struct ingest_limits limits = {
    .max_bytes = 20 * 1024 * 1024,
    .max_side = 2048,
    .max_pixels = 40 * 1000 * 1000,
};

struct blob {
    void *data;
    size_t len;
};

static void blob_free(struct blob *b)
{
    g_free(b->data);
    b->data = NULL;
    b->len = 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Replaces *img by next, as the code under test does. */
static void swap_in(VipsImage **img, VipsImage *next)
{
    g_object_unref(*img);
    *img = next;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* CRC-32 (IEEE 802.3, reflected, as PNG uses), bit by bit: small inputs only. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return c ^ 0xffffffffu;
}

/* ---- images made with libvips ---- */

/* A w x h image of `bands` uchar bands: a diagonal ramp, or noise (hard to compress). */
static VipsImage *make_image(int w, int h, int bands, bool noise)
{
    VipsImage *img = NULL, *t = NULL;
    VipsImage *copies[4];

    if (noise) {
        if (vips_gaussnoise(&img, w, h, "mean", 128.0, "sigma", 60.0, NULL))
            return NULL;
    } else {
        if (vips_xyz(&img, w, h, NULL))
            return NULL;
        if (vips_bandmean(img, &t, NULL))
            goto fail;
        swap_in(&img, t);
        if (vips_remainder_const1(img, &t, 256.0, NULL))
            goto fail;
        swap_in(&img, t);
    }
    if (vips_cast_uchar(img, &t, NULL))
        goto fail;
    swap_in(&img, t);
    if (bands > 1) {
        for (int i = 0; i < bands; i++)
            copies[i] = img;
        if (vips_bandjoin(copies, &t, bands, NULL))
            goto fail;
        swap_in(&img, t);
    }
    if (vips_copy(img, &t, "interpretation",
                  bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W, NULL))
        goto fail;
    swap_in(&img, t);
    return img;
fail:
    g_object_unref(img);
    return NULL;
}

/* A flat image: every band of every pixel is value, in the given format. */
static VipsImage *make_flat(int w, int h, int bands, double value, VipsBandFormat fmt,
                            VipsInterpretation interp)
{
    VipsImage *img = NULL, *t = NULL;

    if (vips_black(&img, w, h, "bands", bands, NULL))
        return NULL;
    if (vips_linear1(img, &t, 1.0, value, NULL))
        goto fail;
    swap_in(&img, t);
    if (vips_cast(img, &t, fmt, NULL))
        goto fail;
    swap_in(&img, t);
    if (vips_copy(img, &t, "interpretation", interp, NULL))
        goto fail;
    swap_in(&img, t);
    return img;
fail:
    g_object_unref(img);
    return NULL;
}

static struct blob save_png(VipsImage *img)
{
    struct blob b = {0};
    if (!img || vips_pngsave_buffer(img, &b.data, &b.len, NULL))
        fprintf(stderr, "pngsave: %s\n", vips_error_buffer());
    return b;
}

static struct blob save_jpeg(VipsImage *img)
{
    struct blob b = {0};
    if (!img || vips_jpegsave_buffer(img, &b.data, &b.len, "Q", 90, NULL))
        fprintf(stderr, "jpegsave: %s\n", vips_error_buffer());
    return b;
}

static struct blob png_of(int w, int h, int bands, bool noise)
{
    VipsImage *img = make_image(w, h, bands, noise);
    struct blob b = save_png(img);
    VIPS_UNREF(img);
    return b;
}

/* ---- container walkers ---- */

/* True if the PNG in p is well formed and has a chunk of type `type`. */
static bool png_has_chunk(const void *data, size_t len, const char *type, bool *well_formed)
{
    const unsigned char *p = data;
    size_t off = 8;
    bool found = false;

    *well_formed = false;
    if (len < 8 || memcmp(p, "\x89PNG\r\n\x1a\n", 8) != 0)
        return false;
    while (off + 12 <= len) {
        uint32_t n = be32(p + off);
        if (n > len - off - 12)
            return found;
        if (memcmp(p + off + 4, type, 4) == 0)
            found = true;
        if (be32(p + off + 8 + n) != crc32_of(p + off + 4, n + 4))
            return found;
        if (memcmp(p + off + 4, "IEND", 4) == 0) {
            *well_formed = off + 12 == len;
            return found;
        }
        off += 12 + (size_t)n;
    }
    return found;
}

/* Checks a WebP file has no metadata: no ICCP/EXIF/XMP chunk and no VP8X flag for one. */
static void check_webp_clean(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t off = 12;
    int chunks = 0;

    CHECK(len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0);
    if (len < 12)
        return;
    CHECK_EQ_INT(le32(p + 4), len - 8);
    while (off + 8 <= len) {
        uint32_t n = le32(p + off + 4);
        CHECK(memcmp(p + off, "ICCP", 4) != 0);
        CHECK(memcmp(p + off, "EXIF", 4) != 0);
        CHECK(memcmp(p + off, "XMP ", 4) != 0);
        if (memcmp(p + off, "VP8X", 4) == 0 && n >= 1)
            CHECK_EQ_INT(p[off + 8] & 0x2c, 0); /* ICC 0x20, EXIF 0x08, XMP 0x04 */
        chunks++;
        off += 8 + (size_t)n + (n & 1);
    }
    CHECK_EQ_INT(off, len);
    CHECK(chunks >= 1);
}

static void check_png_clean(const void *data, size_t len)
{
    static const char *const banned[] = {"eXIf", "tEXt", "iTXt", "zTXt", "iCCP"};
    bool ok;

    for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++) {
        bool has = png_has_chunk(data, len, banned[i], &ok);
        CHECK(ok);
        if (has)
            fprintf(stderr, "output PNG has a %s chunk\n", banned[i]);
        CHECK(!has);
    }
}

/* Decodes a PNG or WebP result; NULL on failure. */
static VipsImage *decode(const void *data, size_t len, bool webp)
{
    VipsImage *img = NULL;
    int rc = webp ? vips_webpload_buffer((void *)data, len, &img, NULL)
                  : vips_pngload_buffer((void *)data, len, &img, NULL);
    if (rc) {
        fprintf(stderr, "decode: %s\n", vips_error_buffer());
        vips_error_clear();
        return NULL;
    }
    return img;
}

static double pixel(VipsImage *img, int x, int y, int band)
{
    double *v = NULL;
    int n = 0;
    double r = -1;

    if (vips_getpoint(img, &v, &n, x, y, NULL) == 0 && band < n)
        r = v[band];
    g_free(v);
    return r;
}

/*
 * Ingests b and checks the common promises of a success: PNG and WebP magic, the
 * reported size equals the PNG's, 8-bit, the thumbnail's longer side, no metadata.
 * Returns the decoded PNG (caller unrefs) or NULL.
 */
static VipsImage *ingest_ok(const struct blob *b, int want_w, int want_h, int want_bands)
{
    struct ingest_result r = {0};
    const char *why = NULL;
    VipsImage *png = NULL, *thumb = NULL;
    enum err rc = ingest_image(b->data, b->len, &limits, &r, &why);
    int longer = want_w > want_h ? want_w : want_h;

    CHECK_EQ_INT(rc, ERR_OK);
    if (rc != ERR_OK) {
        fprintf(stderr, "  why: %s\n", why ? why : "(null)");
        return NULL;
    }
    CHECK_EQ_INT(r.width, want_w);
    CHECK_EQ_INT(r.height, want_h);
    CHECK(r.png_len > 8 && memcmp(r.png, "\x89PNG\r\n\x1a\n", 8) == 0);
    CHECK(r.thumb_len > 12 && memcmp(r.thumb, "RIFF", 4) == 0 &&
          memcmp((char *)r.thumb + 8, "WEBP", 4) == 0);
    check_png_clean(r.png, r.png_len);
    check_webp_clean(r.thumb, r.thumb_len);

    png = decode(r.png, r.png_len, false);
    CHECK(png != NULL);
    if (png) { /* decoded now: r.png is freed below and the load is lazy */
        VipsImage *mem = vips_image_copy_memory(png);
        CHECK(mem != NULL);
        g_object_unref(png);
        png = mem;
    }
    if (png) {
        CHECK_EQ_INT(png->Xsize, want_w);
        CHECK_EQ_INT(png->Ysize, want_h);
        CHECK_EQ_INT(png->Bands, want_bands);
        CHECK_EQ_INT(png->BandFmt, VIPS_FORMAT_UCHAR);
        CHECK(!vips_image_get_typeof(png, VIPS_META_EXIF_NAME));
        CHECK(!vips_image_get_typeof(png, VIPS_META_XMP_NAME));
        CHECK(!vips_image_get_typeof(png, VIPS_META_ICC_NAME));
    }
    thumb = decode(r.thumb, r.thumb_len, true);
    CHECK(thumb != NULL);
    if (thumb) {
        int tl = thumb->Xsize > thumb->Ysize ? thumb->Xsize : thumb->Ysize;
        CHECK_EQ_INT(tl, longer > INGEST_THUMB_SIDE ? INGEST_THUMB_SIDE : longer);
        CHECK(thumb->Xsize <= want_w && thumb->Ysize <= want_h);
        /* the aspect ratio survives, to within a pixel of rounding */
        CHECK(llabs((long long)thumb->Xsize * want_h - (long long)thumb->Ysize * want_w) <= longer);
        CHECK_EQ_INT(vips_image_hasalpha(thumb), want_bands == 2 || want_bands == 4);
        CHECK(!vips_image_get_typeof(thumb, VIPS_META_EXIF_NAME));
        CHECK(!vips_image_get_typeof(thumb, VIPS_META_XMP_NAME));
        CHECK(!vips_image_get_typeof(thumb, VIPS_META_ICC_NAME));
    }
    VIPS_UNREF(thumb);
    ingest_result_free(&r);
    CHECK(r.png == NULL && r.thumb == NULL);
    return png;
}

/* Ingests b expecting a refusal; checks that *out was not written. */
static void ingest_fails(const void *data, size_t len, const struct ingest_limits *lim,
                         enum err want, const char *want_why)
{
    struct ingest_result r;
    const char *why = NULL;
    enum err rc;

    memset(&r, 0x5a, sizeof(r));
    rc = ingest_image(data, len, lim, &r, &why);
    CHECK_EQ_INT(rc, want);
    CHECK(why != NULL);
    if (want_why)
        CHECK_EQ_STR(why, want_why);
    CHECK_EQ_INT(r.width, 0x5a5a5a5a); /* out untouched */
}

/* ---- tests ---- */

static void test_sniff(void)
{
    static const char heic[] = "\0\0\0\x18"
                               "ftypheic\0\0\0\0mif1heic";
    static const char avif[] = "\0\0\0\x1c"
                               "ftypavif\0\0\0\0avifmif1miaf";
    static const char compat[] = "\0\0\0\x18"
                                 "ftypmp42\0\0\0\0isommif1";
    static const char mp4[] = "\0\0\0\x18"
                              "ftypisom\0\0\0\0isomiso2";
    static const char past_box[] = "\0\0\0\x14"
                                   "ftypmp42\0\0\0\0isommif1"; /* mif1 after box end */
    static const char svg[] = "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    static const char pdf[] = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
    static const char wav[] = "RIFF\x24\0\0\0WAVEfmt ";
    struct blob png = png_of(8, 8, 3, false);
    VipsImage *img = make_image(8, 8, 3, false);
    struct blob jpeg = save_jpeg(img);
    struct blob webp = {0}, gif = {0};

    CHECK(vips_webpsave_buffer(img, &webp.data, &webp.len, NULL) == 0);
    if (vips_gifsave_buffer(img, &gif.data, &gif.len, NULL) != 0) {
        printf("note: gifsave unavailable, GIF sniff from a literal header only\n");
        vips_error_clear();
    }

    CHECK_EQ_STR(ingest_sniff(png.data, png.len), "png");
    CHECK_EQ_STR(ingest_sniff(jpeg.data, jpeg.len), "jpeg");
    CHECK_EQ_STR(ingest_sniff(webp.data, webp.len), "webp");
    if (gif.data)
        CHECK_EQ_STR(ingest_sniff(gif.data, gif.len), "gif");
    CHECK_EQ_STR(ingest_sniff("GIF87a\x01\0\x01\0", 10), "gif");
    CHECK_EQ_STR(ingest_sniff("GIF89a\x01\0\x01\0", 10), "gif");
    CHECK_EQ_STR(ingest_sniff(heic, sizeof(heic) - 1), "heif");
    CHECK_EQ_STR(ingest_sniff(avif, sizeof(avif) - 1), "heif");
    CHECK_EQ_STR(ingest_sniff(compat, sizeof(compat) - 1), "heif");

    CHECK(ingest_sniff(mp4, sizeof(mp4) - 1) == NULL);
    CHECK(ingest_sniff(past_box, sizeof(past_box) - 1) == NULL);
    CHECK(ingest_sniff(svg, sizeof(svg) - 1) == NULL);
    CHECK(ingest_sniff(pdf, sizeof(pdf) - 1) == NULL);
    CHECK(ingest_sniff(wav, sizeof(wav) - 1) == NULL);
    CHECK(ingest_sniff("GIF88a\x01\0\x01\0", 10) == NULL);
    CHECK(ingest_sniff("garbage, not an image at all", 28) == NULL);
    CHECK(ingest_sniff(png.data, 7) == NULL); /* signature cut short */
    CHECK(ingest_sniff("\xff\xd8", 2) == NULL);
    CHECK(ingest_sniff("", 0) == NULL);
    CHECK(ingest_sniff(NULL, 0) == NULL);
    CHECK(ingest_sniff(NULL, 100) == NULL);

    VIPS_UNREF(img);
    blob_free(&png);
    blob_free(&jpeg);
    blob_free(&webp);
    blob_free(&gif);
}

static void test_png_roundtrip(void)
{
    struct blob big = png_of(640, 480, 3, false);
    struct blob small = png_of(100, 50, 3, false);
    struct blob grey = png_of(300, 120, 1, false);
    struct blob grey_alpha = png_of(120, 300, 2, false);
    VipsImage *out;

    out = ingest_ok(&big, 640, 480, 3);
    VIPS_UNREF(out);
    out = ingest_ok(&small, 100, 50, 3); /* not enlarged, thumbnail included */
    VIPS_UNREF(out);
    out = ingest_ok(&grey, 300, 120, 1); /* greyscale stays one band */
    VIPS_UNREF(out);
    out = ingest_ok(&grey_alpha, 120, 300, 2);
    VIPS_UNREF(out);
    blob_free(&big);
    blob_free(&small);
    blob_free(&grey);
    blob_free(&grey_alpha);
}

/* 300x200 with a white square at the stored top-left, EXIF orientation 6 (display
 * rotated 90 degrees clockwise), plus XMP and an ICC profile to be stripped. */
static void test_jpeg_orientation(void)
{
    static const char xmp[] = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">secret</x:xmpmeta>";
    VipsImage *base = make_flat(300, 200, 3, 0, VIPS_FORMAT_UCHAR, VIPS_INTERPRETATION_sRGB);
    VipsImage *mem = base ? vips_image_copy_memory(base) : NULL;
    VipsImage *tagged = NULL, *in = NULL, *out = NULL;
    struct blob jpeg = {0};
    int orientation = 0;

    CHECK(mem != NULL);
    if (!mem)
        goto out;
    CHECK(vips_draw_rect1(mem, 255.0, 0, 0, 60, 60, "fill", TRUE, NULL) == 0);
    CHECK(vips_copy(mem, &tagged, NULL) == 0);
    vips_image_set_int(tagged, VIPS_META_ORIENTATION, 6);
    vips_image_set_blob_copy(tagged, VIPS_META_XMP_NAME, xmp, sizeof(xmp) - 1);
    if (vips_jpegsave_buffer(tagged, &jpeg.data, &jpeg.len, "Q", 95, "profile", "srgb", NULL)) {
        printf("note: jpegsave cannot embed the built-in sRGB profile; saving without\n");
        vips_error_clear();
        jpeg = save_jpeg(tagged);
    }

    /* the input really carries what we expect to be removed */
    CHECK(vips_jpegload_buffer(jpeg.data, jpeg.len, &in, NULL) == 0);
    if (in) {
        CHECK(vips_image_get_int(in, VIPS_META_ORIENTATION, &orientation) == 0);
        CHECK_EQ_INT(orientation, 6);
        CHECK(vips_image_get_typeof(in, VIPS_META_EXIF_NAME) != 0);
        CHECK(vips_image_get_typeof(in, VIPS_META_XMP_NAME) != 0);
        if (!vips_image_get_typeof(in, VIPS_META_ICC_NAME))
            printf("note: test JPEG has no ICC profile\n");
    }

    out = ingest_ok(&jpeg, 200, 300, 3);
    if (out) {
        /* stored (x, y) shows at (199 - y, x): the square is now top-right */
        CHECK(pixel(out, 175, 25, 0) > 200);
        CHECK(pixel(out, 25, 25, 0) < 50);
        CHECK(pixel(out, 175, 275, 0) < 50);
        CHECK(pixel(out, 25, 275, 0) < 50);
    }
out:
    VIPS_UNREF(out);
    VIPS_UNREF(in);
    VIPS_UNREF(tagged);
    VIPS_UNREF(mem);
    VIPS_UNREF(base);
    blob_free(&jpeg);
}

/* A PNG carrying a text comment, EXIF (orientation 3) and XMP: all gone from both
 * outputs. The EXIF block comes from a JPEG round trip, as pngsave writes eXIf only
 * from an existing block. */
static void test_png_metadata_stripped(void)
{
    static const char xmp[] = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">gps</x:xmpmeta>";
    VipsImage *img = make_image(64, 48, 3, false), *t = NULL, *j = NULL, *t2 = NULL;
    VipsImage *out = NULL;
    struct blob jpeg = {0}, png = {0};
    bool ok = false;

    CHECK(img && vips_copy(img, &t, NULL) == 0);
    if (!t)
        goto out;
    vips_image_set_int(t, VIPS_META_ORIENTATION, 3);
    vips_image_set_blob_copy(t, VIPS_META_XMP_NAME, xmp, sizeof(xmp) - 1);
    jpeg = save_jpeg(t);
    CHECK(vips_jpegload_buffer(jpeg.data, jpeg.len, &j, NULL) == 0);
    CHECK(j && vips_copy(j, &t2, NULL) == 0);
    if (!t2)
        goto out;
    vips_image_set_string(t2, "png-comment-0-Comment", "shot at home");
    png = save_png(t2);
    CHECK(png_has_chunk(png.data, png.len, "tEXt", &ok) ||
          png_has_chunk(png.data, png.len, "zTXt", &ok) ||
          png_has_chunk(png.data, png.len, "iTXt", &ok));
    CHECK(png_has_chunk(png.data, png.len, "eXIf", &ok));
    CHECK(ok);
    out = ingest_ok(&png, 64, 48, 3); /* orientation 3 is 180 degrees: size unchanged */
    if (out) {
        /* the ramp's dark corner (0, 0) moved to the bottom right */
        CHECK(pixel(out, 63, 47, 0) < pixel(out, 0, 0, 0));
    }
out:
    VIPS_UNREF(out);
    VIPS_UNREF(t2);
    VIPS_UNREF(j);
    VIPS_UNREF(t);
    VIPS_UNREF(img);
    blob_free(&jpeg);
    blob_free(&png);
}

static void test_other_formats(void)
{
    VipsImage *img = make_image(500, 400, 3, false);
    VipsImage *out = NULL;
    struct blob webp = {0}, gif = {0}, heif = {0};

    CHECK(vips_webpsave_buffer(img, &webp.data, &webp.len, "Q", 90, NULL) == 0);
    out = ingest_ok(&webp, 500, 400, 3);
    VIPS_UNREF(out);

    if (vips_gifsave_buffer(img, &gif.data, &gif.len, NULL) == 0) {
        struct ingest_result r = {0};
        CHECK_EQ_INT(ingest_image(gif.data, gif.len, &limits, &r, NULL), ERR_OK);
        CHECK_EQ_INT(r.width, 500);
        CHECK_EQ_INT(r.height, 400);
        ingest_result_free(&r);
    } else {
        printf("note: gifsave unavailable, GIF ingest not tested\n");
        vips_error_clear();
    }

    if (vips_heifsave_buffer(img, &heif.data, &heif.len, "compression",
                             VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort", 0, NULL) == 0) {
        struct ingest_result r = {0};
        enum err rc = ingest_image(heif.data, heif.len, &limits, &r, NULL);
        CHECK_EQ_STR(ingest_sniff(heif.data, heif.len), "heif");
        CHECK_EQ_INT(rc, ERR_OK);
        CHECK_EQ_INT(r.width, 500);
        CHECK_EQ_INT(r.height, 400);
        ingest_result_free(&r);
    } else {
        printf("note: AVIF encoder unavailable, HEIF/AVIF ingest not tested\n");
        vips_error_clear();
    }
    VIPS_UNREF(img);
    blob_free(&webp);
    blob_free(&gif);
    blob_free(&heif);
}

static void test_scaling(void)
{
    struct blob wide = png_of(4000, 1000, 3, false);
    struct blob tall = png_of(700, 3001, 3, false);
    VipsImage *out;

    out = ingest_ok(&wide, 2048, 512, 3);
    VIPS_UNREF(out);
    out = ingest_ok(&tall, 478, 2048, 3); /* 700 * 2048 / 3001 = 477.7 */
    VIPS_UNREF(out);
    blob_free(&wide);
    blob_free(&tall);
}

static void test_16bit_and_alpha(void)
{
    VipsImage *rgb16 = make_flat(320, 240, 3, 32896, VIPS_FORMAT_USHORT, VIPS_INTERPRETATION_RGB16);
    VipsImage *grey16 =
        make_flat(100, 80, 1, 65535, VIPS_FORMAT_USHORT, VIPS_INTERPRETATION_GREY16);
    VipsImage *rgba = make_flat(3000, 600, 4, 128, VIPS_FORMAT_UCHAR, VIPS_INTERPRETATION_sRGB);
    struct blob b16 = save_png(rgb16), g16 = save_png(grey16), ba = save_png(rgba);
    VipsImage *check = NULL, *out = NULL;

    /* the input really is 16-bit */
    CHECK(vips_pngload_buffer(b16.data, b16.len, &check, NULL) == 0);
    if (check)
        CHECK_EQ_INT(check->BandFmt, VIPS_FORMAT_USHORT);
    VIPS_UNREF(check);

    out = ingest_ok(&b16, 320, 240, 3);
    if (out)
        CHECK_EQ_INT(pixel(out, 10, 10, 1), 128); /* 32896 / 257 */
    VIPS_UNREF(out);

    out = ingest_ok(&g16, 100, 80, 1);
    if (out)
        CHECK_EQ_INT(pixel(out, 0, 0, 0), 255);
    VIPS_UNREF(out);

    out = ingest_ok(&ba, 2048, 410, 4); /* scaled with alpha kept: 600 * 2048 / 3000 */
    if (out) {
        CHECK(pixel(out, 100, 100, 3) >= 127 && pixel(out, 100, 100, 3) <= 129);
        CHECK(pixel(out, 100, 100, 0) >= 127 && pixel(out, 100, 100, 0) <= 129);
    }
    VIPS_UNREF(out);

    VIPS_UNREF(rgb16);
    VIPS_UNREF(grey16);
    VIPS_UNREF(rgba);
    blob_free(&b16);
    blob_free(&g16);
    blob_free(&ba);
}

static void test_cmyk(void)
{
    VipsImage *cmyk = make_flat(200, 100, 4, 40, VIPS_FORMAT_UCHAR, VIPS_INTERPRETATION_CMYK);
    struct blob jpeg = save_jpeg(cmyk);
    VipsImage *check = NULL, *out = NULL;

    CHECK(vips_jpegload_buffer(jpeg.data, jpeg.len, &check, NULL) == 0);
    if (check)
        CHECK_EQ_INT(vips_image_guess_interpretation(check), VIPS_INTERPRETATION_CMYK);
    out = ingest_ok(&jpeg, 200, 100, 3);
    VIPS_UNREF(out);
    VIPS_UNREF(check);
    VIPS_UNREF(cmyk);
    blob_free(&jpeg);
}

/* A JPEG whose embedded "ICC profile" is garbage: the profile is ignored, not fatal.
 * jpegsave will not write a junk profile, so an APP2 ICC_PROFILE segment is spliced in
 * after SOI by hand: FF E2, length (2 bytes BE, counting itself), "ICC_PROFILE\0",
 * sequence number 1, count 1, payload. */
static void test_bad_icc(void)
{
    static const char tag[] = "ICC_PROFILE";
    unsigned char seg[4 + sizeof(tag) + 2 + 128];
    VipsImage *img = make_image(90, 60, 3, false), *check = NULL, *out = NULL;
    struct blob jpeg = save_jpeg(img), spliced = {0};
    size_t seg_len = sizeof(seg);

    memset(seg, 0x42, seg_len);
    seg[0] = 0xff;
    seg[1] = 0xe2;
    seg[2] = (unsigned char)((seg_len - 2) >> 8);
    seg[3] = (unsigned char)(seg_len - 2);
    memcpy(seg + 4, tag, sizeof(tag)); /* with its NUL */
    seg[4 + sizeof(tag)] = 1;
    seg[5 + sizeof(tag)] = 1;
    spliced.len = jpeg.len + seg_len;
    spliced.data = g_malloc(spliced.len);
    memcpy(spliced.data, jpeg.data, 2);
    memcpy((char *)spliced.data + 2, seg, seg_len);
    memcpy((char *)spliced.data + 2 + seg_len, (char *)jpeg.data + 2, jpeg.len - 2);

    CHECK(vips_jpegload_buffer(spliced.data, spliced.len, &check, NULL) == 0);
    CHECK(check && vips_image_get_typeof(check, VIPS_META_ICC_NAME) != 0);
    out = ingest_ok(&spliced, 90, 60, 3);
    VIPS_UNREF(out);
    VIPS_UNREF(check);
    VIPS_UNREF(img);
    blob_free(&jpeg);
    blob_free(&spliced);
}

static void test_truncated(void)
{
    VipsImage *noise = make_image(400, 300, 3, true);
    struct blob png = save_png(noise);
    struct blob jpeg = save_jpeg(noise);
    struct blob webp = {0}, gif = {0};

    ingest_fails(png.data, png.len * 6 / 10, &limits, ERR_UNSUPPORTED, WHY_CORRUPT);
    ingest_fails(jpeg.data, jpeg.len * 6 / 10, &limits, ERR_UNSUPPORTED, WHY_CORRUPT);
    CHECK(vips_webpsave_buffer(noise, &webp.data, &webp.len, NULL) == 0);
    ingest_fails(webp.data, webp.len * 6 / 10, &limits, ERR_UNSUPPORTED, WHY_CORRUPT);
    ingest_fails(png.data, 40, &limits, ERR_UNSUPPORTED, WHY_CORRUPT); /* header only */
    if (vips_gifsave_buffer(noise, &gif.data, &gif.len, NULL) == 0)
        ingest_fails(gif.data, gif.len * 6 / 10, &limits, ERR_UNSUPPORTED, WHY_CORRUPT);
    else
        vips_error_clear();

    /* a PNG signature in front of garbage */
    {
        char fake[64] = "\x89PNG\r\n\x1a\nthis is not a png at all, just text";
        ingest_fails(fake, sizeof(fake), &limits, ERR_UNSUPPORTED, WHY_CORRUPT);
    }
    VIPS_UNREF(noise);
    blob_free(&png);
    blob_free(&jpeg);
    blob_free(&webp);
    blob_free(&gif);
}

static size_t png_chunk(unsigned char *p, const char *type, const void *data, uint32_t n)
{
    put_be32(p, n);
    memcpy(p + 4, type, 4);
    if (n)
        memcpy(p + 8, data, n);
    put_be32(p + 8 + n, crc32_of(p + 4, n + 4));
    return 12 + (size_t)n;
}

/* Signature, IHDR claiming w x h RGB 8-bit, a tiny IDAT (an empty zlib stream), IEND. */
static size_t png_bomb(unsigned char *p, uint32_t w, uint32_t h)
{
    static const unsigned char idat[] = {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
    unsigned char ihdr[13] = {0};
    size_t n = 8;

    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = 2; /* truecolour */
    n += png_chunk(p + n, "IHDR", ihdr, sizeof(ihdr));
    n += png_chunk(p + n, "IDAT", idat, sizeof(idat));
    n += png_chunk(p + n, "IEND", NULL, 0);
    return n;
}

static void test_bomb(void)
{
    unsigned char buf[128];
    size_t n = png_bomb(buf, 60000, 60000);
    bool ok = false;
    double t0;

    png_has_chunk(buf, n, "IHDR", &ok);
    CHECK(ok); /* a structurally valid PNG, CRCs and all */
    CHECK(n < 100);
    t0 = now_s();
    ingest_fails(buf, n, &limits, ERR_TOO_LARGE, "The image has too many pixels");
    CHECK(now_s() - t0 < 0.5);

    /* past libpng's own header limit: refused one way or another, and fast */
    n = png_bomb(buf, 0x7fffffff, 0x7fffffff);
    t0 = now_s();
    {
        struct ingest_result r = {0};
        CHECK(ingest_image(buf, n, &limits, &r, NULL) != ERR_OK);
    }
    CHECK(now_s() - t0 < 0.5);
}

static void test_limits(void)
{
    struct ingest_limits lim = limits;
    struct blob sq = png_of(100, 100, 3, false);
    struct blob wide = png_of(101, 100, 3, false);
    struct ingest_result r = {0};

    lim.max_pixels = 10000;
    CHECK_EQ_INT(ingest_image(sq.data, sq.len, &lim, &r, NULL), ERR_OK); /* exactly at it */
    ingest_result_free(&r);
    ingest_fails(wide.data, wide.len, &lim, ERR_TOO_LARGE, "The image has too many pixels");

    lim = limits;
    lim.max_bytes = (int64_t)sq.len;
    CHECK_EQ_INT(ingest_image(sq.data, sq.len, &lim, &r, NULL), ERR_OK);
    ingest_result_free(&r);
    lim.max_bytes = (int64_t)sq.len - 1;
    ingest_fails(sq.data, sq.len, &lim, ERR_TOO_LARGE, "The image file is too large");
    /* too many bytes wins over everything, even for garbage */
    ingest_fails("0123456789abcdef0123456789", 26, &(struct ingest_limits){10, 2048, 1000},
                 ERR_TOO_LARGE, NULL);

    ingest_fails("", 0, &limits, ERR_UNSUPPORTED, WHY_FORMAT);
    ingest_fails(NULL, 0, &limits, ERR_UNSUPPORTED, WHY_FORMAT);
    ingest_fails(sq.data, sq.len, NULL, ERR_INTERNAL, NULL);

    ingest_result_free(NULL);
    ingest_result_free(&r); /* zeroed: a no-op */
    blob_free(&sq);
    blob_free(&wide);
}

static void test_foreign_formats(void)
{
    static const char svg[] = "<?xml version=\"1.0\"?>\n"
                              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
                              "height=\"10\"><rect width=\"10\" height=\"10\"/></svg>\n";
    static const char pdf[] = "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
    static const char ppm[] = "P6\n2 2\n255\n\0\0\0\0\0\0\0\0\0\0\0\0";
    static const char text[] = "hello, I am a text file";

    ingest_fails(svg, sizeof(svg) - 1, &limits, ERR_UNSUPPORTED, WHY_FORMAT);
    ingest_fails(pdf, sizeof(pdf) - 1, &limits, ERR_UNSUPPORTED, WHY_FORMAT);
    ingest_fails(ppm, sizeof(ppm) - 1, &limits, ERR_UNSUPPORTED, WHY_FORMAT);
    ingest_fails(text, sizeof(text) - 1, &limits, ERR_UNSUPPORTED, WHY_FORMAT);
}

/* ---- concurrency ---- */

struct worker {
    pthread_t thread;
    const struct blob *inputs;
    int n_inputs;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;

    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < w->n_inputs; i++) {
            struct ingest_result r = {0};
            if (ingest_image(w->inputs[i].data, w->inputs[i].len, &limits, &r, NULL) != ERR_OK ||
                r.width <= 0 || r.png_len < 8 || r.thumb_len < 12)
                w->failures++;
            ingest_result_free(&r);
        }
    }
    return NULL;
}

static void test_concurrent(void)
{
    enum { N_THREADS = 8 };
    struct worker workers[N_THREADS];
    VipsImage *img = make_image(1200, 900, 3, false);
    struct blob inputs[3] = {png_of(2500, 700, 4, false), save_jpeg(img), {0}};
    int failures = 0;

    CHECK(vips_webpsave_buffer(img, &inputs[2].data, &inputs[2].len, NULL) == 0);
    for (int i = 0; i < N_THREADS; i++) {
        workers[i] = (struct worker){.inputs = inputs, .n_inputs = 3};
        CHECK(pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        failures += workers[i].failures;
    }
    CHECK_EQ_INT(failures, 0);
    VIPS_UNREF(img);
    for (int i = 0; i < 3; i++)
        blob_free(&inputs[i]);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (imaging_init(argv[0]) != ERR_OK) {
        fprintf(stderr, "imaging_init failed\n");
        return 1;
    }
    test_sniff();
    test_png_roundtrip();
    test_jpeg_orientation();
    test_png_metadata_stripped();
    test_other_formats();
    test_scaling();
    test_16bit_and_alpha();
    test_cmyk();
    test_bad_icc();
    test_truncated();
    test_bomb();
    test_limits();
    test_foreign_formats();
    test_concurrent();
    imaging_shutdown();
    return check_summary("ingest");
}
