/*
 * editor_local.c - the embedded default editor (SPEC §8): applies the edits that
 * editor_parse() recognises in a prompt, in order, with libvips.
 *
 * Every edit is a row of one table: up to four steps, each a small function of an 8-bit
 * image with its parameters, that together take 3-band sRGB to 3-band sRGB; alpha is
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

/* One step of an edit: in to *out, with its parameters p (what each means is the step's
 * to say; unused ones are 0). */
typedef int (*step_fn)(VipsImage *in, VipsImage **out, const double *p);

#define STEPS_MAX 4
#define PARAMS_MAX 9

struct step {
    step_fn fn;
    double p[PARAMS_MAX];
};

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

/* A blur radius that looks alike at any size: the shorter side / divisor, in [lo, hi]. */
static double blur_sigma(VipsImage *in, double divisor, double lo, double hi)
{
    double s = (double)VIPS_MIN(in->Xsize, in->Ysize) / divisor;

    return VIPS_CLIP(lo, s, hi);
}

/* Runs fn (with p) on a copy of in shrunk by f and enlarges the result back to in's exact
 * size: about 1/f^2 of the cost, for effects that look the same at a coarser scale. */
static int at_scale(VipsImage *in, VipsImage **out, int f, step_fn fn, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 3);
    int rc = -1;

    if (vips_shrink(in, &t[0], f, f, NULL))
        goto out;
    if (fn(t[0], &t[1], p))
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

/* ---- the steps; an edit's steps take and give 8-bit images ---- */

/* p: a 3x3 colour matrix, row by row. */
static int step_recomb(VipsImage *in, VipsImage **out, const double *p)
{
    return recomb_uchar(in, out, p, 3);
}

/* p: saturation scale around Rec. 601 luma, then an overall gain. */
static int step_saturate(VipsImage *in, VipsImage **out, const double *p)
{
    const double w[3] = {LUMA_R, LUMA_G, LUMA_B};
    double m[9];

    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            m[r * 3 + c] = p[1] * ((1.0 - p[0]) * w[c] + (r == c ? p[0] : 0.0));
    }
    return recomb_uchar(in, out, m, 3);
}

/* One band of luma. */
static int step_luma(VipsImage *in, VipsImage **out, const double *p)
{
    static const double m[3] = {LUMA_R, LUMA_G, LUMA_B};

    (void)p;
    return recomb_uchar(in, out, m, 1);
}

/* Three copies of a one-band image, tagged sRGB. */
static int step_grey_to_rgb(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 1);
    VipsImage *bands[3] = {in, in, in};
    int rc = -1;

    (void)p;
    if (vips_bandjoin(bands, &t[0], 3, NULL))
        goto out;
    if (vips_copy(t[0], out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
        goto out;
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

/* p: a, b: a * v + b on every band. */
static int step_linear(VipsImage *in, VipsImage **out, const double *p)
{
    return linear1_uchar(in, out, p[0], p[1]);
}

/* p: a for R, G, B, then b for R, G, B. */
static int step_linear3(VipsImage *in, VipsImage **out, const double *p)
{
    return linear_uchar(in, out, p, p + 3, 3);
}

static int step_invert(VipsImage *in, VipsImage **out, const double *p)
{
    (void)p;
    return vips_invert(in, out, NULL);
}

/* p: sigma. */
static int step_gaussblur(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_gaussblur(in, out, p[0], NULL);
}

/* p: the blur_sigma() of in: divisor, lo, hi. */
static int step_blur_scaled(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_gaussblur(in, out, blur_sigma(in, p[0], p[1], p[2]), NULL);
}

/* p: sigma, m2. Works on lightness and returns LabS; step_srgb and step_uchar follow. */
static int step_sharpen(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_sharpen(in, out, "sigma", p[0], "m2", p[1], NULL);
}

static int step_srgb(VipsImage *in, VipsImage **out, const double *p)
{
    (void)p;
    return vips_colourspace(in, out, VIPS_INTERPRETATION_sRGB, NULL);
}

static int step_uchar(VipsImage *in, VipsImage **out, const double *p)
{
    (void)p;
    return vips_cast_uchar(in, out, NULL);
}

/* p: degrees clockwise, a multiple of 90. */
static int step_rotate(VipsImage *in, VipsImage **out, const double *p)
{
    static const VipsAngle quarter[4] = {VIPS_ANGLE_D0, VIPS_ANGLE_D90, VIPS_ANGLE_D180,
                                         VIPS_ANGLE_D270};

    return vips_rot(in, out, quarter[(int)p[0] / 90 % 4], NULL);
}

/* p: 0 mirrors left to right, 1 top to bottom. */
static int step_flip(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_flip(in, out, p[0] ? VIPS_DIRECTION_VERTICAL : VIPS_DIRECTION_HORIZONTAL, NULL);
}

/* Blocks of about 1/48 of the shorter side (at least 4 px): averaged, then enlarged
 * without smoothing, then trimmed or edge-extended back to the original size. */
static int step_pixelate(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int block = VIPS_MAX(4, side / 48);
    int rc = -1;

    (void)p;
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

/* p: n, the levels per channel (evenly spaced from 0 to 255), through a lookup table. */
static int step_levels(VipsImage *in, VipsImage **out, const double *p)
{
    unsigned char table[256];
    int n = (int)p[0], rc;
    VipsImage *lut;

    for (int i = 0; i < 256; i++)
        table[i] = (unsigned char)(((i * n) / 256) * 255 / (n - 1)); /* 5: 0, 63, 127, 191, 255 */
    lut = vips_image_new_from_memory_copy(table, 256, 256, 1, 1, VIPS_FORMAT_UCHAR);
    if (!lut)
        return -1;
    rc = vips_maplut(in, out, lut, NULL);
    g_object_unref(lut);
    return rc;
}

static int step_sobel(VipsImage *in, VipsImage **out, const double *p)
{
    (void)p;
    return vips_sobel(in, out, NULL);
}

/* A directional difference, as float (it may be negative). */
static int step_emboss(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *m = vips_image_new_matrixv(3, 3, -2.0, -1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 2.0);
    int rc;

    (void)p;
    if (!m)
        return -1;
    rc = vips_conv(in, out, m, "precision", VIPS_PRECISION_FLOAT, NULL);
    g_object_unref(m);
    return rc;
}

/* p: the window's side. */
static int step_median(VipsImage *in, VipsImage **out, const double *p)
{
    return vips_median(in, out, (int)p[0], NULL);
}

/* Paint blotches: a median filter, which flattens detail into patches while keeping their
 * edges. libvips's median costs about the same for any window, so on large images it runs
 * on a copy shrunk by f (a window of 5 there spans 5f pixels). */
static int step_patches(VipsImage *in, VipsImage **out, const double *p)
{
    static const double window = 5.0;
    int side = VIPS_MIN(in->Xsize, in->Ysize);
    int f = side / 400;

    (void)p;
    if (f >= 2)
        return at_scale(in, out, f, step_median, &window);
    if (side < 3) /* no room for a window: nothing to flatten */
        return vips_copy(in, out, NULL);
    return vips_median(in, out, side >= 200 ? 5 : 3, NULL);
}

/* A Gaussian blur for wide radii, on a copy shrunk by f when sigma allows: it looks the
 * same for a soft halo. Same size as in, uchar. */
static int wide_blur(VipsImage *in, VipsImage **out, double sigma)
{
    int f = (int)(sigma / 4.0);
    double small_sigma;

    if (f < 2 || in->Xsize < 4 * f || in->Ysize < 4 * f)
        return vips_gaussblur(in, out, sigma, NULL);
    small_sigma = sigma / f;
    return at_scale(in, out, f, step_gaussblur, &small_sigma);
}

/* p: gain and offset of a brightened copy, then the blur_sigma() of in (divisor, lo, hi)
 * of its wide blur, which is screened over in. */
static int step_halo(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *ctx, **t = scratch(&ctx, 2);
    int rc = -1;

    if (linear1_uchar(in, &t[0], p[0], p[1]))
        goto out;
    if (wide_blur(t[0], &t[1], blur_sigma(in, p[2], p[3], p[4])))
        goto out;
    rc = screen(in, t[1], out);
out:
    g_object_unref(ctx);
    return rc;
}

/* p: sigma of a blurred copy screened over in. */
static int step_screen_blur(VipsImage *in, VipsImage **out, const double *p)
{
    VipsImage *blurred = NULL;
    int rc = vips_gaussblur(in, &blurred, p[0], NULL);

    if (rc == 0)
        rc = screen(in, blurred, out);
    VIPS_UNREF(blurred);
    return rc;
}

/* ---- the edits: each a few steps from 3-band uchar sRGB to 3-band uchar sRGB ---- */

/* Indexed by enum edit_kind: the steps in order, up to the first without fn. geometric:
 * also applied to the alpha band. */
static const struct {
    struct step steps[STEPS_MAX];
    bool geometric;
} edits[EDIT_KIND_COUNT] = {
    [EDIT_COLORFUL] = {{{step_saturate, {1.6, 1.05}}}},
    [EDIT_GRAYSCALE] = {{{step_luma}, {step_grey_to_rgb}}},
    [EDIT_SEPIA] = {{{step_recomb,
                      {0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131}}}},
    [EDIT_INVERT] = {{{step_invert}}},
    [EDIT_BLUR] = {{{step_blur_scaled, {150.0, 1.5, 12.0}}}},
    [EDIT_SHARPEN] = {{{step_sharpen, {1.5, 4.0}}, {step_srgb}, {step_uchar}}},
    [EDIT_BRIGHTER] = {{{step_linear, {1.1, 25.0}}}},
    [EDIT_DARKER] = {{{step_linear, {0.75, 0.0}}}},
    [EDIT_CONTRAST] = {{{step_linear, {1.35, 128.0 * (1.0 - 1.35)}}}}, /* around mid-grey */
    [EDIT_WARM] = {{{step_linear3, {1.08, 1.02, 0.85, 12.0, 4.0, -6.0}}}},
    [EDIT_COOL] = {{{step_linear3, {0.86, 1.0, 1.1, -6.0, 3.0, 14.0}}}},
    [EDIT_ROTATE_LEFT] = {{{step_rotate, {270}}}, true},
    [EDIT_ROTATE_RIGHT] = {{{step_rotate, {90}}}, true},
    [EDIT_UPSIDE_DOWN] = {{{step_rotate, {180}}}, true},
    [EDIT_FLIP] = {{{step_flip, {0}}}, true},
    [EDIT_FLIP_VERTICAL] = {{{step_flip, {1}}}, true},
    [EDIT_PIXELATE] = {{{step_pixelate}}},
    /* bolder colours, then five levels per channel */
    [EDIT_POSTERIZE] = {{{step_saturate, {1.3, 1.0}}, {step_levels, {5}}}},
    /* edges of the lightness, strengthened and drawn dark on white */
    [EDIT_SKETCH] = {{{step_luma}, {step_sobel}, {step_linear, {-3.0, 255.0}}, {step_grey_to_rgb}}},
    /* a directional difference of the lightness around mid-grey */
    [EDIT_EMBOSS] = {{{step_luma}, {step_emboss}, {step_linear, {1.0, 128.0}}, {step_grey_to_rgb}}},
    /* a wide blur of a brightened copy, screened over the image */
    [EDIT_GLOW] = {{{step_halo, {1.1, 10.0, 60.0, 3.0, 24.0}}, {step_saturate, {1.2, 1.0}}}},
    /* median-smoothed patches, a soft blur, lifted towards the white of paper */
    [EDIT_WATERCOLOR] = {{{step_patches},
                          {step_gaussblur, {1.2}},
                          {step_saturate, {1.25, 1.0}},
                          {step_linear, {0.85, 40.0}}}},
    /* colour edges, amplified, on black, with a little glow */
    [EDIT_NEON] = {{{step_saturate, {1.8, 1.0}},
                    {step_sobel},
                    {step_linear, {3.0, 0.0}},
                    {step_screen_blur, {2.0}}}},
    /* colour grades: saturation, then a * v + b per band */
    [EDIT_PASTEL] = {{{step_saturate, {0.6, 1.0}},
                      {step_linear3, {0.6, 0.6, 0.6, 100.0, 100.0, 100.0}}}},
    [EDIT_NIGHT] = {{{step_saturate, {0.4, 1.0}},
                     {step_linear3, {0.35, 0.45, 0.75, 0.0, 4.0, 22.0}}}},
    [EDIT_SUNSET] = {{{step_saturate, {1.2, 1.0}},
                      {step_linear3, {1.12, 0.92, 0.7, 30.0, 6.0, 10.0}}}},
    /* Placeholders until each has its own pipeline (SPEC §16). */
    [EDIT_DESATURATE] = {{{step_saturate, {0.5, 1.0}}}},
    [EDIT_LESS_CONTRAST] = {{{step_linear, {0.7, 128.0 * (1.0 - 0.7)}}}},
    [EDIT_VINTAGE] = {{{step_recomb,
                        {0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131}},
                       {step_linear, {0.85, 30.0}}}},
    [EDIT_PAINTING] = {{{step_patches}, {step_saturate, {1.2, 1.0}}}},
    [EDIT_VIGNETTE] = {{{step_linear, {0.9, 0.0}}}},
    [EDIT_FRAME] = {{{step_linear, {0.95, 0.0}}}},
    [EDIT_SNOW] = {{{step_linear, {0.9, 30.0}}}},
    [EDIT_DREAMY] = {{{step_halo, {1.1, 10.0, 60.0, 3.0, 24.0}}, {step_blur_scaled, {300.0, 1.0, 6.0}}}},
    [EDIT_POP] = {{{step_saturate, {1.4, 1.0}}, {step_linear, {1.2, 128.0 * (1.0 - 1.2)}}}},
    [EDIT_CARTOON] = {{{step_saturate, {1.3, 1.0}}, {step_levels, {5}}}},
    [EDIT_CROP] = {{{step_linear, {1.0, 1.0}}}},
};

/* Runs an edit's steps on in: each step's output is the next one's input. */
static int run_steps(const struct step *steps, VipsImage *in, VipsImage **out)
{
    VipsImage *ctx, **t = scratch(&ctx, STEPS_MAX);
    VipsImage *cur = in;
    int rc = -1;

    for (int i = 0; i < STEPS_MAX && steps[i].fn; i++) {
        bool last = i + 1 == STEPS_MAX || !steps[i + 1].fn;

        if (steps[i].fn(cur, last ? out : &t[i], steps[i].p))
            goto out;
        cur = t[i];
    }
    rc = 0;
out:
    g_object_unref(ctx);
    return rc;
}

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

    if ((unsigned)k >= EDIT_KIND_COUNT || !edits[k].steps[0].fn) {
        vips_error("editor", "no implementation for edit %d", (int)k);
        return -1;
    }
    if (run_steps(edits[k].steps, *img, &t))
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
static int apply_image(VipsImage *in, const struct edit_step *ops, size_t n, VipsImage **out)
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
        if (step_grey_to_rgb(colour, &t, NULL))
            goto out;
    } else if (vips_copy(colour, &t, "interpretation", VIPS_INTERPRETATION_sRGB, NULL)) {
        goto out; /* tagged, so colour conversions know where they start */
    }
    advance(&colour, t);
    t = NULL;
    for (size_t i = 0; i < n; i++) {
        if (apply_one(ops[i].kind, &colour))
            goto out;
        if (alpha && edits[ops[i].kind].geometric) {
            if (run_steps(edits[ops[i].kind].steps, alpha, &t))
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

enum err editor_local_apply_plan(const void *png, size_t len, const struct edit_plan *plan,
                                 void **out, size_t *out_len, const char **why)
{
    VipsImage *in = NULL, *img = NULL;
    void *buf = NULL;
    size_t buf_len = 0;
    enum err rc = ERR_INVALID;
    const char *reason = WHY_INTERNAL;

    if (!png || len == 0 || !plan || !out || !out_len)
        goto out;
    if (plan->n == 0) {
        rc = ERR_REFUSED;
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
    if (apply_image(img, plan->steps, plan->n, &in)) {
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

enum err editor_local_apply(const void *png, size_t len, const char *prompt, void **out,
                            size_t *out_len, const char **why)
{
    struct edit_plan plan;
    enum err rc = editor_plan(prompt, &plan);

    if (rc == ERR_OK)
        rc = editor_local_apply_plan(png, len, &plan, out, out_len, why);
    else if (why)
        *why = WHY_INTERNAL;
    edit_plan_free(&plan);
    return rc;
}

enum err editor_local_apply_raw(const unsigned char *pixels, int width, int height, int bands,
                                const char *prompt, unsigned char **out_pixels, int *out_w,
                                int *out_h, int *out_bands)
{
    struct edit_plan plan = {0};
    VipsImage *in = NULL, *img = NULL;
    void *buf = NULL;
    size_t buf_len = 0;
    enum err rc = ERR_INVALID;

    if (!pixels || width <= 0 || height <= 0 || bands < 1 || bands > 4 || !prompt || !out_pixels ||
        !out_w || !out_h || !out_bands)
        goto out;
    if ((uint64_t)width * (uint64_t)height * (uint64_t)bands > (uint64_t)SIZE_MAX / 2)
        goto out;
    rc = editor_plan(prompt, &plan);
    if (rc == ERR_OK && plan.n == 0)
        rc = ERR_REFUSED;
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
    if (apply_image(in, plan.steps, plan.n, &img)) {
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
    edit_plan_free(&plan);
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
    struct edit_plan plan;
    void *out = NULL;
    size_t out_len = 0;
    const char *why = WHY_INTERNAL;
    enum err rc = editor_plan(prompt, &plan);

    (void)e;
    if (rc == ERR_OK)
        rc = editor_local_apply_plan(png, len, &plan, &out, &out_len, &why);
    done(arg, rc, out, out_len, why, rc == ERR_OK ? &plan : NULL);
    editor_output_free(out);
    edit_plan_free(&plan);
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
