/*
 * editor_local.c - the embedded default editor (SPEC §8): applies the edits that
 * editor_parse() recognises in a prompt, in order, with libvips.
 *
 * Every edit is a small function from an 8-bit, 3-band sRGB image to another; alpha is
 * split off first and only geometric edits (rotate, flip) touch it, so transparency
 * survives every colour edit. Grey input is widened to sRGB. Nothing here is random, so
 * the same input and prompt give the same bytes.
 *
 * Owns no state: each call builds and releases a private pipeline, so it is thread-safe
 * once imaging_init() has run. Output buffers come from GLib (g_malloc); release them
 * with editor_output_free().
 */
#include "editor.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <vips/vips.h>

#include "imaging/vips_log.h"
#include "util/log.h"

#define WHY_INTERNAL "The image could not be edited"
#define WHY_CORRUPT "The image is corrupt or truncated"

#define PNG_COMPRESSION 6

/* Rec. 601 luma weights: how bright each primary looks. */
#define LUMA_R 0.299
#define LUMA_G 0.587
#define LUMA_B 0.114

typedef int (*edit_fn)(VipsImage *in, VipsImage **out);


/* A context object whose local array holds intermediates; unref it to drop them all. */
static VipsImage **scratch(VipsImage **ctx, int n)
{
    *ctx = vips_image_new();
    return (VipsImage **)vips_object_local_array(VIPS_OBJECT(*ctx), n);
}

/* out = a * in + b per band, rounded to nearest and clipped to 0..255, as uchar. a and b
 * have n entries (1, or one per band). vips_linear's uchar output truncates, hence +0.5. */
static int linear_uchar(VipsImage *in, VipsImage **out, const double *a, const double *b, int n)
{
    double b2[4];

    for (int i = 0; i < n; i++)
        b2[i] = b[i] + 0.5;
    return vips_linear(in, out, (double *)a, b2, n, "uchar", TRUE, NULL);
}

static int linear1_uchar(VipsImage *in, VipsImage **out, double a, double b)
{
    return linear_uchar(in, out, &a, &b, 1);
}

/* Multiplies each pixel by a 3x3 (or 1x3) matrix given row by row, then rounds and
 * clips to uchar (vips_recomb returns float). */
static int recomb_uchar(VipsImage *in, VipsImage **out, const double *m, int rows)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int rc = -1;

    t[0] = vips_image_new_matrix_from_array(3, rows, m, 3 * rows);
    if (!t[0])
        goto out;
    if (vips_recomb(in, &t[1], t[0], NULL))
        goto out;
    if (linear1_uchar(t[1], out, 1.0, 0.0))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* The 3x3 matrix that scales saturation by s around Rec. 601 luma, times gain. */
static void saturation_matrix(double s, double gain, double m[9])
{
    const double w[3] = {LUMA_R, LUMA_G, LUMA_B};

    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            m[r * 3 + c] = gain * ((1.0 - s) * w[c] + (r == c ? s : 0.0));
    }
}

static int saturate(VipsImage *in, VipsImage **out, double s)
{
    double m[9];

    saturation_matrix(s, 1.0, m);
    return recomb_uchar(in, out, m, 3);
}

/* One band of luma, uchar. */
static int luma(VipsImage *in, VipsImage **out)
{
    static const double m[3] = {LUMA_R, LUMA_G, LUMA_B};

    return recomb_uchar(in, out, m, 1);
}

/* Three copies of a one-band image, tagged sRGB. */
static int grey_to_rgb(VipsImage *grey, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 1);
    VipsImage *bands[3] = {grey, grey, grey};
    int rc = -1;

    if (vips_bandjoin(bands, &t[0], 3, NULL))
        goto out;
    if (vips_copy(t[0], out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* A blur radius that looks alike at any size: about 1/150 of the shorter side. */
static double blur_sigma(VipsImage *in, double divisor, double lo, double hi)
{
    double s = (double)VIPS_MIN(in->Xsize, in->Ysize) / divisor;

    return VIPS_CLIP(lo, s, hi);
}

/* A Gaussian blur for wide radii: blurring a copy shrunk by f and enlarging it back costs
 * about 1/f^2 as much and looks the same for a soft halo. Same size as in, uchar. */
static int wide_blur(VipsImage *in, VipsImage **out, double sigma)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int f = (int)(sigma / 4.0);
    int rc = -1;

    if (f < 2 || in->Xsize < 4 * f || in->Ysize < 4 * f) {
        rc = vips_gaussblur(in, out, sigma, NULL);
        goto out;
    }
    if (vips_shrink(in, &t[0], f, f, NULL))
        goto out;
    if (vips_gaussblur(t[0], &t[1], sigma / f, NULL))
        goto out;
    if (vips_resize(t[1], &t[2], (double)in->Xsize / t[1]->Xsize, "vscale",
                    (double)in->Ysize / t[1]->Ysize, "kernel", VIPS_KERNEL_LINEAR, NULL))
        goto out;
    /* resize rounds the size; trim or extend the last row and column to match exactly */
    if (vips_embed(t[2], out, 0, 0, in->Xsize, in->Ysize, "extend", VIPS_EXTEND_COPY, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Screen blend of two uchar images: 255 - (255 - a)(255 - b) / 255. Brightens. */
static int screen(VipsImage *a, VipsImage *b, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int rc = -1;

    if (vips_invert(a, &t[0], NULL) || vips_invert(b, &t[1], NULL))
        goto out;
    if (vips_multiply(t[0], t[1], &t[2], NULL))
        goto out;
    if (linear1_uchar(t[2], out, -1.0 / 255.0, 255.0))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* ---- the edits: 3-band uchar sRGB in, 3-band uchar sRGB out ---- */

static int edit_colorful(VipsImage *in, VipsImage **out)
{
    double m[9];

    saturation_matrix(1.6, 1.05, m);
    return recomb_uchar(in, out, m, 3);
}

static int edit_grayscale(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 1);
    int rc = -1;

    if (luma(in, &t[0]) || grey_to_rgb(t[0], out))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

static int edit_sepia(VipsImage *in, VipsImage **out)
{
    static const double m[9] = {0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131};

    return recomb_uchar(in, out, m, 3);
}

static int edit_invert(VipsImage *in, VipsImage **out)
{
    return vips_invert(in, out, NULL);
}

static int edit_blur(VipsImage *in, VipsImage **out)
{
    return vips_gaussblur(in, out, blur_sigma(in, 150.0, 1.5, 12.0), NULL);
}

/* vips_sharpen works on lightness and returns LabS; convert back to 8-bit sRGB. */
static int edit_sharpen(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int rc = -1;

    if (vips_sharpen(in, &t[0], "sigma", 1.5, "m2", 4.0, NULL))
        goto out;
    if (vips_colourspace(t[0], &t[1], VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    if (vips_cast_uchar(t[1], out, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

static int edit_brighter(VipsImage *in, VipsImage **out)
{
    return linear1_uchar(in, out, 1.1, 25.0);
}

static int edit_darker(VipsImage *in, VipsImage **out)
{
    return linear1_uchar(in, out, 0.75, 0.0);
}

static int edit_contrast(VipsImage *in, VipsImage **out)
{
    const double k = 1.35;

    return linear1_uchar(in, out, k, 128.0 * (1.0 - k));
}

static int edit_warm(VipsImage *in, VipsImage **out)
{
    static const double a[3] = {1.08, 1.02, 0.85}, b[3] = {12.0, 4.0, -6.0};

    return linear_uchar(in, out, a, b, 3);
}

static int edit_cool(VipsImage *in, VipsImage **out)
{
    static const double a[3] = {0.86, 1.0, 1.1}, b[3] = {-6.0, 3.0, 14.0};

    return linear_uchar(in, out, a, b, 3);
}

static int edit_rotate_left(VipsImage *in, VipsImage **out)
{
    return vips_rot(in, out, VIPS_ANGLE_D270, NULL);
}

static int edit_rotate_right(VipsImage *in, VipsImage **out)
{
    return vips_rot(in, out, VIPS_ANGLE_D90, NULL);
}

static int edit_upside_down(VipsImage *in, VipsImage **out)
{
    return vips_rot(in, out, VIPS_ANGLE_D180, NULL);
}

static int edit_flip(VipsImage *in, VipsImage **out)
{
    return vips_flip(in, out, VIPS_DIRECTION_HORIZONTAL, NULL);
}

static int edit_flip_vertical(VipsImage *in, VipsImage **out)
{
    return vips_flip(in, out, VIPS_DIRECTION_VERTICAL, NULL);
}

/* Blocks of about 1/48 of the shorter side (at least 4 px): averaged, then enlarged
 * without smoothing, then trimmed or edge-extended back to the original size. */
static int edit_pixelate(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int block = VIPS_MAX(4, side / 48);
    int rc = -1;

    if (block > side)
        block = side;
    if (block < 2) { /* a 1-pixel-wide image is already pixelated */
        rc = vips_copy(in, out, NULL);
        goto out;
    }
    if (vips_shrink(in, &t[0], block, block, NULL))
        goto out;
    if (vips_zoom(t[0], &t[1], block, block, NULL))
        goto out;
    if (vips_embed(t[1], out, 0, 0, in->Xsize, in->Ysize, "extend", VIPS_EXTEND_COPY, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* A lookup table image: 256 entries, one band, uchar. */
static VipsImage *lut_new(const unsigned char table[256])
{
    return vips_image_new_from_memory_copy(table, 256, 256, 1, 1, VIPS_FORMAT_UCHAR);
}

/* Bolder colours, then five levels per channel. */
static int edit_posterize(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    unsigned char table[256];
    int rc = -1;

    for (int i = 0; i < 256; i++)
        table[i] = (unsigned char)(((i * 5) / 256) * 255 / 4); /* 0, 63, 127, 191, 255 */
    t[0] = lut_new(table);
    if (!t[0])
        goto out;
    if (saturate(in, &t[1], 1.3))
        goto out;
    if (vips_maplut(t[1], out, t[0], NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Edges of the lightness, strengthened and drawn dark on white. */
static int edit_sketch(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 4);
    int rc = -1;

    if (luma(in, &t[0]))
        goto out;
    if (vips_sobel(t[0], &t[1], NULL))
        goto out;
    if (linear1_uchar(t[1], &t[2], -3.0, 255.0)) /* strong edges become dark lines */
        goto out;
    if (grey_to_rgb(t[2], out))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* A directional difference of the lightness around mid-grey. */
static int edit_emboss(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 4);
    int rc = -1;

    t[0] = vips_image_new_matrixv(3, 3, -2.0, -1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 2.0);
    if (!t[0])
        goto out;
    if (luma(in, &t[1]))
        goto out;
    if (vips_conv(t[1], &t[2], t[0], "precision", VIPS_PRECISION_FLOAT, NULL))
        goto out; /* float, may be negative */
    if (linear1_uchar(t[2], &t[3], 1.0, 128.0))
        goto out;
    if (grey_to_rgb(t[3], out))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* A wide blur of a brightened copy, screened over the image. */
static int edit_glow(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int rc = -1;

    if (linear1_uchar(in, &t[0], 1.1, 10.0))
        goto out;
    if (wide_blur(t[0], &t[1], blur_sigma(in, 60.0, 3.0, 24.0)))
        goto out;
    if (screen(in, t[1], &t[2]))
        goto out;
    if (saturate(t[2], out, 1.2))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Paint blotches: a median filter, which flattens detail into patches while keeping their
 * edges. libvips's median costs about the same for any window, so on large images it runs
 * on a copy shrunk by f (a window of 5 there spans 5f pixels) and is enlarged back. */
static int paint_patches(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int f = VIPS_MIN(in->Xsize, in->Ysize) / 400;
    int rc = -1;

    if (f < 2) {
        int side = VIPS_MIN(in->Xsize, in->Ysize);

        if (side < 3) /* no room for a window: nothing to flatten */
            rc = vips_copy(in, out, NULL);
        else
            rc = vips_median(in, out, side >= 200 ? 5 : 3, NULL);
        goto out;
    }
    if (vips_shrink(in, &t[0], f, f, NULL))
        goto out;
    if (vips_median(t[0], &t[1], 5, NULL))
        goto out;
    if (vips_resize(t[1], &t[2], (double)in->Xsize / t[1]->Xsize, "vscale",
                    (double)in->Ysize / t[1]->Ysize, "kernel", VIPS_KERNEL_LINEAR, NULL))
        goto out;
    if (vips_embed(t[2], out, 0, 0, in->Xsize, in->Ysize, "extend", VIPS_EXTEND_COPY, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Median-smoothed patches, a soft blur, lifted towards the white of paper. */
static int edit_watercolor(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int rc = -1;

    if (paint_patches(in, &t[0]))
        goto out;
    if (vips_gaussblur(t[0], &t[1], 1.2, NULL))
        goto out;
    if (saturate(t[1], &t[2], 1.25))
        goto out;
    if (linear1_uchar(t[2], out, 0.85, 40.0))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* Colour edges, amplified, on black, with a little glow. */
static int edit_neon(VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, 4);
    int rc = -1;

    if (saturate(in, &t[0], 1.8))
        goto out;
    if (vips_sobel(t[0], &t[1], NULL))
        goto out;
    if (linear1_uchar(t[1], &t[2], 3.0, 0.0))
        goto out;
    if (vips_gaussblur(t[2], &t[3], 2.0, NULL))
        goto out;
    if (screen(t[2], t[3], out))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* A colour grade: saturation scaled by sat, then a * v + b per band (R, G, B). */
static int grade(VipsImage *in, VipsImage **out, double sat, const double a[3],
                 const double b[3])
{
    VipsImage *ctx, **t = scratch(&ctx, 1);
    int rc = -1;

    if (saturate(in, &t[0], sat))
        goto out;
    if (linear_uchar(t[0], out, a, b, 3))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

static int edit_pastel(VipsImage *in, VipsImage **out)
{
    static const double a[3] = {0.6, 0.6, 0.6}, b[3] = {100.0, 100.0, 100.0};
    return grade(in, out, 0.6, a, b);
}

static int edit_night(VipsImage *in, VipsImage **out)
{
    static const double a[3] = {0.35, 0.45, 0.75}, b[3] = {0.0, 4.0, 22.0};
    return grade(in, out, 0.4, a, b);
}

static int edit_sunset(VipsImage *in, VipsImage **out)
{
    static const double a[3] = {1.12, 0.92, 0.7}, b[3] = {30.0, 6.0, 10.0};
    return grade(in, out, 1.2, a, b);
}

/* Indexed by enum edit_kind. geometric: also applied to the alpha band. */
static const struct {
    edit_fn fn;
    bool geometric;
} edits[EDIT_KIND_COUNT] = {
    [EDIT_COLORFUL] = {edit_colorful, false},
    [EDIT_GRAYSCALE] = {edit_grayscale, false},
    [EDIT_SEPIA] = {edit_sepia, false},
    [EDIT_INVERT] = {edit_invert, false},
    [EDIT_BLUR] = {edit_blur, false},
    [EDIT_SHARPEN] = {edit_sharpen, false},
    [EDIT_BRIGHTER] = {edit_brighter, false},
    [EDIT_DARKER] = {edit_darker, false},
    [EDIT_CONTRAST] = {edit_contrast, false},
    [EDIT_WARM] = {edit_warm, false},
    [EDIT_COOL] = {edit_cool, false},
    [EDIT_ROTATE_LEFT] = {edit_rotate_left, true},
    [EDIT_ROTATE_RIGHT] = {edit_rotate_right, true},
    [EDIT_UPSIDE_DOWN] = {edit_upside_down, true},
    [EDIT_FLIP] = {edit_flip, true},
    [EDIT_FLIP_VERTICAL] = {edit_flip_vertical, true},
    [EDIT_PIXELATE] = {edit_pixelate, false},
    [EDIT_POSTERIZE] = {edit_posterize, false},
    [EDIT_SKETCH] = {edit_sketch, false},
    [EDIT_EMBOSS] = {edit_emboss, false},
    [EDIT_GLOW] = {edit_glow, false},
    [EDIT_WATERCOLOR] = {edit_watercolor, false},
    [EDIT_NEON] = {edit_neon, false},
    [EDIT_PASTEL] = {edit_pastel, false},
    [EDIT_NIGHT] = {edit_night, false},
    [EDIT_SUNSET] = {edit_sunset, false},
};

/* Makes next the current image, dropping the reference to the previous one. */
static void advance(VipsImage **img, VipsImage *next)
{
    g_object_unref(*img);
    *img = next;
}

/* Applies one edit to *img and checks it kept the 3-band uchar shape. */
static int apply_one(enum edit_kind k, VipsImage **img)
{
    VipsImage *t = NULL;

    if ((unsigned)k >= EDIT_KIND_COUNT || !edits[k].fn) {
        vips_error("editor", "no implementation for edit %d", (int)k);
        return -1;
    }
    if (edits[k].fn(*img, &t))
        return -1;
    advance(img, t);
    if ((*img)->Bands != 3 || (*img)->BandFmt != VIPS_FORMAT_UCHAR) {
        vips_error("editor", "%s gave %d bands of format %d", editor_kind_name(k), (*img)->Bands,
                   (int)(*img)->BandFmt);
        return -1;
    }
    return 0;
}

/*
 * The whole edit on a decoded image (borrowed): split alpha, widen grey to sRGB, apply
 * each edit, re-attach alpha. *out is a lazy pipeline holding references to in.
 */
static int apply_image(VipsImage *in, const enum edit_kind *ops, size_t n, VipsImage **out)
{
    VipsImage *colour = NULL, *alpha = NULL, *t = NULL;
    bool has_alpha = in->Bands == 2 || in->Bands == 4;
    int colour_bands = has_alpha ? in->Bands - 1 : in->Bands;
    int rc = -1;

    if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Bands < 1 || in->Bands > 4) {
        vips_error("editor", "unexpected input: %d bands of format %d", in->Bands,
                   (int)in->BandFmt);
        goto out;
    }
    if (vips_extract_band(in, &colour, 0, "n", colour_bands, NULL))
        goto out;
    if (has_alpha && vips_extract_band(in, &alpha, colour_bands, NULL))
        goto out;
    if (colour_bands == 1) {
        if (grey_to_rgb(colour, &t))
            goto out;
    } else if (vips_copy(colour, &t, "interpretation", VIPS_INTERPRETATION_sRGB, NULL)) {
        goto out; /* tagged, so colour conversions know where they start */
    }
    advance(&colour, t);
    t = NULL;
    for (size_t i = 0; i < n; i++) {
        if (apply_one(ops[i], &colour))
            goto out;
        if (alpha && edits[ops[i]].geometric) {
            if (edits[ops[i]].fn(alpha, &t))
                goto out;
            advance(&alpha, t);
            t = NULL;
        }
    }
    if (alpha) {
        if (vips_bandjoin2(colour, alpha, &t, NULL))
            goto out;
        advance(&colour, t);
        t = NULL;
    }
    if (vips_copy(colour, out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    rc = 0;
out:
    VIPS_UNREF(colour);
    VIPS_UNREF(alpha);
    return rc;
}

/* Parses prompt into ops; ERR_REFUSED if it names nothing. */
static enum err parse_or_refuse(const char *prompt, enum edit_kind *ops, size_t *n)
{
    *n = editor_parse(prompt, ops, EDIT_KIND_COUNT);
    return *n ? ERR_OK : ERR_REFUSED;
}

enum err editor_local_apply(const void *png, size_t len, const char *prompt, void **out,
                            size_t *out_len, const char **why)
{
    enum edit_kind ops[EDIT_KIND_COUNT];
    VipsImage *in = NULL, *img = NULL;
    void *buf = NULL;
    size_t buf_len = 0, n = 0;
    enum err rc = ERR_INVALID;
    const char *reason = WHY_INTERNAL;

    if (!png || len == 0 || !prompt || !out || !out_len)
        goto out;
    rc = parse_or_refuse(prompt, ops, &n);
    if (rc != ERR_OK) {
        reason = editor_refusal;
        goto out;
    }
    rc = ERR_UNSUPPORTED;
    reason = WHY_CORRUPT;
    if (vips_pngload_buffer((void *)png, len, &in, "fail_on", VIPS_FAIL_ON_ERROR, NULL)) {
        vips_log_error("editor", "PNG decode");
        goto out;
    }
    /* Decode once into memory: rotations need random access. */
    img = vips_image_copy_memory(in);
    if (!img) {
        vips_log_error("editor", "PNG decode");
        goto out;
    }
    VIPS_UNREF(in);
    rc = ERR_INTERNAL;
    reason = WHY_INTERNAL;
    if (apply_image(img, ops, n, &in)) {
        vips_log_error("editor", "edit");
        goto out;
    }
    if (vips_pngsave_buffer(in, &buf, &buf_len, "strip", TRUE, "compression", PNG_COMPRESSION,
                            NULL)) {
        vips_log_error("editor", "PNG encode");
        goto out;
    }
    *out = buf;
    *out_len = buf_len;
    buf = NULL;
    rc = ERR_OK;
out:
    VIPS_UNREF(in);
    VIPS_UNREF(img);
    g_free(buf);
    if (rc != ERR_OK && why)
        *why = reason;
    return rc;
}

enum err editor_local_apply_raw(const unsigned char *pixels, int width, int height, int bands,
                                const char *prompt, unsigned char **out_pixels, int *out_w,
                                int *out_h, int *out_bands)
{
    enum edit_kind ops[EDIT_KIND_COUNT];
    VipsImage *in = NULL, *img = NULL;
    void *buf = NULL;
    size_t buf_len = 0, n = 0;
    enum err rc = ERR_INVALID;

    if (!pixels || width <= 0 || height <= 0 || bands < 1 || bands > 4 || !prompt || !out_pixels ||
        !out_w || !out_h || !out_bands)
        goto out;
    if ((uint64_t)width * (uint64_t)height * (uint64_t)bands > (uint64_t)SIZE_MAX / 2)
        goto out;
    rc = parse_or_refuse(prompt, ops, &n);
    if (rc != ERR_OK)
        goto out;
    rc = ERR_INTERNAL;
    /* Wraps the caller's buffer without copying; it is only read, and only before return. */
    in = vips_image_new_from_memory(pixels, (size_t)width * height * bands, width, height, bands,
                                    VIPS_FORMAT_UCHAR);
    if (!in) {
        vips_log_error("editor", "raw input");
        goto out;
    }
    if (apply_image(in, ops, n, &img)) {
        vips_log_error("editor", "edit");
        goto out;
    }
    buf = vips_image_write_to_memory(img, &buf_len);
    if (!buf) {
        vips_log_error("editor", "render");
        rc = ERR_NOMEM;
        goto out;
    }
    *out_pixels = buf;
    *out_w = img->Xsize;
    *out_h = img->Ysize;
    *out_bands = img->Bands;
    buf = NULL;
    rc = ERR_OK;
out:
    VIPS_UNREF(img);
    VIPS_UNREF(in);
    g_free(buf);
    return rc;
}

void editor_output_free(void *buf)
{
    g_free(buf);
}

/* ---- the backend vtable ---- */

static void local_edit(struct editor *e, const void *png, size_t len, const char *prompt,
                       editor_done_fn done, void *arg)
{
    void *out = NULL;
    size_t out_len = 0;
    const char *why = NULL;
    enum err rc = editor_local_apply(png, len, prompt, &out, &out_len, &why);

    (void)e;
    done(arg, rc, out, out_len, why);
    editor_output_free(out);
}

static enum err local_check(struct editor *e, const char *prompt, const char **why)
{
    enum edit_kind kinds[EDIT_KIND_COUNT];

    (void)e;
    if (editor_parse(prompt, kinds, EDIT_KIND_COUNT) > 0)
        return ERR_OK;
    *why = editor_refusal;
    return ERR_REFUSED;
}

static void local_close(struct editor *e)
{
    (void)e; /* the one instance is static */
}

const struct editor_ops editor_local_ops = {
    .name = "local",
    .edit = local_edit,
    .check = local_check,
    .close = local_close,
};

static struct editor local_instance = {.ops = &editor_local_ops};

enum err editor_local_open(struct editor **out)
{
    if (!out)
        return ERR_INVALID;
    *out = &local_instance;
    return ERR_OK;
}
